"""Empirical p-values, Benjamini–Hochberg q-values and target–decoy FDR (METHODS.md, *Significance*).

Plain numpy functions on arrays of importances, so each formula can be checked by hand:

* :func:`permutation_pvalues` — ``p_j = (1 + #{b : I⁰_bj ≥ I_j}) / (B + 1)`` per gene, or
  pooled across genes ``p_j = (1 + #{(b, k) : I⁰_bk ≥ I_j}) / (B·G + 1)``;
* :func:`bh_qvalues` — Benjamini–Hochberg adjusted p-values (``scipy.stats.false_discovery_control``);
* :func:`decoy_pvalues` — ``p_j = (1 + #{decoys ≥ I_j}) / (n_decoys + 1)``;
* :func:`target_decoy_qvalues` — ``FDR(τ) = ((#decoys ≥ τ + c) / r) / max(1, #real ≥ τ)``
  with ``r = n_decoys / n_real`` and ``c = 1`` (the "+1" of knockoff+; with permuted decoys a
  heuristic estimate, not its guarantee, see :mod:`~genexai.significance.decoy`) or ``0``,
  made monotone: ``q_j = min_{τ ≤ I_j} FDR(τ)`` over the real importances ``τ``.

"≥" counts ties against the gene, so every p-value is conservative.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import false_discovery_control

from genexai.errors import ConfigError

__all__ = [
    "bh_qvalues",
    "count_at_least",
    "decoy_pvalues",
    "permutation_pvalues",
    "randomized_permutation_pvalues",
    "target_decoy_fdr",
    "target_decoy_qvalues",
]


def count_at_least(reference: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``#{r in reference : r ≥ t}`` for every ``t`` in ``thresholds`` (sorting, O((n + m) log n))."""
    ordered = np.sort(np.asarray(reference, dtype=np.float64).ravel())
    return ordered.size - np.searchsorted(ordered, np.asarray(thresholds, dtype=np.float64), side="left")


def _finite(name: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ConfigError(f"{name} contain NaN or inf; significance needs finite importances")
    return values


def permutation_pvalues(observed: np.ndarray, null: np.ndarray, pooled: bool = False) -> np.ndarray:
    """Empirical p-values of observed importances against label-permutation nulls.

    Parameters
    ----------
    observed
        Importance of each gene, shape ``[G]``.
    null
        Importances of the same genes from ``B`` models trained on permuted labels, ``[B, G]``.
    pooled
        ``False`` (default): each gene against its own ``B`` null values,
        ``p_j = (1 + #{b : I⁰_bj ≥ I_j}) / (B + 1)``; the smallest possible p-value is
        ``1/(B+1)``. ``True``: against all ``B·G`` null values,
        ``p_j = (1 + #{(b,k) : I⁰_bk ≥ I_j}) / (B·G + 1)`` — far finer resolution, but valid
        only if every gene's null importance has the same distribution (exchangeable genes).

    Returns
    -------
    numpy.ndarray
        ``[G]`` p-values in ``(0, 1]``.
    """
    observed = _finite("observed importances", observed)
    null = _finite("null importances", null)
    if null.ndim != 2 or null.shape[1] != observed.shape[0]:
        raise ConfigError(f"null importances have shape {null.shape}; expected (B, {observed.shape[0]} genes)")
    n_null = null.shape[0]
    if n_null < 1:
        raise ConfigError("permutation p-values need at least one null model (significance.n_permutations >= 1)")
    if pooled:
        return (1.0 + count_at_least(null, observed)) / (null.size + 1.0)
    return (1.0 + (null >= observed[None, :]).sum(axis=0)) / (n_null + 1.0)


def randomized_permutation_pvalues(observed: np.ndarray, null: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tie-randomised per-gene permutation p-values, exactly ``U(0, 1)`` under exchangeability (calibration checks).

    ``p_j = (#{b : I⁰_bj > I_j} + U_j · (1 + #{b : I⁰_bj = I_j})) / (B + 1)``, ``U_j ~ U(0, 1)``.
    :func:`permutation_pvalues` is this with ``U_j = 1`` — discrete (multiples of
    ``1/(B+1)``) and conservative under ties (e.g. the many exact zeros of a lasso) — so
    testing *its* uniformity with a continuous test (Kolmogorov–Smirnov) would reject a
    valid p-value; testing the randomised one does not. Not for calling genes.
    """
    observed = _finite("observed importances", observed)
    null = _finite("null importances", null)
    above = (null > observed[None, :]).sum(axis=0)
    ties = (null == observed[None, :]).sum(axis=0)
    return (above + rng.random(observed.shape[0]) * (1.0 + ties)) / (null.shape[0] + 1.0)


def bh_qvalues(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), via ``scipy.stats.false_discovery_control``."""
    pvalues = np.asarray(pvalues, dtype=np.float64)
    if pvalues.size == 0:
        return pvalues.copy()
    return false_discovery_control(pvalues, method="bh")


def decoy_pvalues(real: np.ndarray, decoy: np.ndarray) -> np.ndarray:
    """Empirical p-value of each real gene against the decoy importances: ``(1 + #{decoys ≥ I_j}) / (n_decoys + 1)``."""
    real = _finite("real-gene importances", real)
    decoy = _finite("decoy importances", decoy)
    if decoy.size == 0:
        raise ConfigError("decoy p-values need at least one decoy gene (significance.decoy_ratio > 0)")
    return (1.0 + count_at_least(decoy, real)) / (decoy.size + 1.0)


def target_decoy_fdr(real: np.ndarray, decoy: np.ndarray, thresholds: np.ndarray, plus_one: bool = True) -> np.ndarray:
    """Estimated FDR of calling every real gene with importance ≥ τ, for each τ in ``thresholds``.

    ``FDR(τ) = ((#decoys ≥ τ + c) / r) / max(1, #real ≥ τ)``, ``r = n_decoys / n_real`` (the
    decoy ratio: with ``r`` decoys per real gene, ``#decoys ≥ τ / r`` estimates the number of
    null real genes above τ), ``c = 1`` when ``plus_one`` (METHODS.md) else ``0``. Not capped
    and not monotone; see :func:`target_decoy_qvalues`.
    """
    real = _finite("real-gene importances", real)
    decoy = _finite("decoy importances", decoy)
    if real.size == 0 or decoy.size == 0:
        raise ConfigError("target-decoy FDR needs real and decoy genes")
    ratio = decoy.size / real.size
    n_decoy = count_at_least(decoy, thresholds) + (1.0 if plus_one else 0.0)
    n_real = np.maximum(1, count_at_least(real, thresholds))
    return (n_decoy / ratio) / n_real


def target_decoy_qvalues(real: np.ndarray, decoy: np.ndarray, plus_one: bool = True) -> np.ndarray:
    """Target–decoy q-value of each real gene: the smallest estimated FDR of a threshold that calls it.

    ``q_j = min(1, min_{k : I_k ≤ I_j} FDR(I_k))`` with ``FDR`` from :func:`target_decoy_fdr`
    evaluated at the real importances. Calling the genes with ``q_j ≤ α`` calls every real
    gene above the lowest threshold whose estimated FDR is ≤ α (METHODS.md).
    """
    real = _finite("real-gene importances", real)
    fdr = target_decoy_fdr(real, decoy, real, plus_one=plus_one)
    order = np.argsort(real, kind="stable")  # ascending importance: lower thresholds call more genes
    q_sorted = np.minimum.accumulate(fdr[order])
    q = np.empty_like(q_sorted)
    q[order] = q_sorted
    return np.minimum(q, 1.0)
