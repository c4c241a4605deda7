"""Label-permutation null: importances of models trained on shuffled labels → empirical p-values → BH q-values.

Each of ``B`` null models is the observed model retrained (the pipeline's :class:`~genexai.significance.refit.Refitter`)
on the same samples and inputs with the labels of every split permuted, then attributed
with the same methods on the same samples. A gene's p-value is the fraction of null
importances at least as large as its observed importance, with the +1 correction
(METHODS.md); Benjamini–Hochberg turns the p-values of one method into q-values. By
default the tested importance is the gene's share of its model's total importance
(``normalize: true``, see :func:`permutation_significance`).

Resolution. Per gene, the smallest p-value is ``1/(B+1)``. BH calls ``k`` genes at level
``α`` only if ``k`` p-values are ≤ ``α·k/G``, so with ``G`` genes nothing can be called
unless ``G / ((B+1)·α) ≤ k``: e.g. ``G = 1000``, ``B = 100``, ``α = 0.05`` needs ≥ 198 genes
that all beat every null model. Use ``B`` of the order of ``G/α`` (cheap for linear models
and small MLPs, slow for the transformer), or the pooled null, which
ranks a gene against all ``B·G`` null values (``pooled: true``) — resolution ``1/(B·G+1)`` — at the price of
assuming every gene has the same null distribution of importance.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from genexai.errors import ConfigError
from genexai.significance.fdr import bh_qvalues, permutation_pvalues
from genexai.significance.refit import Refitter, derive_seeds
from genexai.significance.views import permuted_labels

__all__ = ["importance_share", "permutation_null", "permutation_significance"]

log = logging.getLogger(__name__)


def permutation_null(
    refit: Refitter, datamodule, n_permutations: int, seed: int
) -> pd.DataFrame:
    """Importances of ``n_permutations`` models trained on permuted labels.

    Parameters
    ----------
    refit
        The observed model retrained on a view and attributed (:class:`~genexai.significance.refit.Refitter`).
    datamodule
        The set-up data module of the observed run (same splits and preprocessing).
    n_permutations
        ``B``.
    seed
        Base seed; permutation ``b`` uses the ``b``-th seed of
        :func:`~genexai.significance.refit.derive_seeds` for the shuffle, the initial
        weights, dropout, batch order and attribution.

    Returns
    -------
    pandas.DataFrame
        Long table ``permutation, seed, method, gene, importance``.
    """
    if int(n_permutations) < 1:
        raise ConfigError(f"significance.n_permutations must be >= 1, got {n_permutations}")
    frames = []
    start = time.perf_counter()
    for b, seed_b in enumerate(derive_seeds(seed, int(n_permutations), stream=0)):
        view = permuted_labels(datamodule, np.random.default_rng(seed_b))
        table = refit(view, seed_b)
        frames.append(table[["method", "gene", "importance"]].assign(permutation=b, seed=seed_b))
        if (b + 1) % max(1, int(n_permutations) // 10) == 0:
            log.info("permutation null: %d/%d models (%.0fs)", b + 1, n_permutations, time.perf_counter() - start)
    null = pd.concat(frames, ignore_index=True)
    return null[["permutation", "seed", "method", "gene", "importance"]]


def importance_share(values: np.ndarray) -> np.ndarray:
    """Importances divided by their model's total ``Σ_k |I_k|`` over genes (last axis); all-zero rows stay 0."""
    values = np.asarray(values, dtype=np.float64)
    total = np.abs(values).sum(axis=-1, keepdims=True)
    return np.divide(values, total, out=np.zeros_like(values), where=total > 0)


def permutation_significance(
    importance: pd.DataFrame, null: pd.DataFrame, pooled: bool = False, normalize: bool = True
) -> pd.DataFrame:
    """Add ``pvalue``, ``qvalue`` (BH within each method), ``significance`` and ``significance_score`` columns.

    Parameters
    ----------
    importance
        Observed tidy importance table (``method, gene, importance, ...``).
    null
        :func:`permutation_null` output for the same methods and genes.
    pooled
        Pool the null across genes (see :func:`~genexai.significance.fdr.permutation_pvalues`).
    normalize
        Test each gene's *share* of its model's total importance, ``I_j / Σ_k |I_k|``
        (observed and null models alike), rather than the raw importance. The overall
        scale of a network's attributions is set largely by its random initialisation and
        training length and is shared by all its genes; left in, it moves every p-value of
        a run together (an observed model that happens to have small gradients gets
        p-values piled near 1, one with large gradients near 0). The share removes it and
        stays a valid permutation statistic, since it is computed the same way for every model.
        ``significance_score`` holds the tested value.
    """
    out = []
    for method, table in importance.groupby("method", sort=False):
        rows = null[null["method"] == method]
        if rows.empty:
            raise ConfigError(f"the permutation null has no importances for method {method!r}")
        matrix = rows.pivot(index="permutation", columns="gene", values="importance")
        missing = set(table["gene"]) - set(matrix.columns)
        if missing:
            raise ConfigError(f"the permutation null of {method!r} lacks {len(missing)} genes, e.g. {sorted(missing)[:3]}")
        matrix = matrix[table["gene"].tolist()].to_numpy(dtype=np.float64)
        observed = table["importance"].to_numpy(dtype=np.float64)
        if normalize:
            observed, matrix = importance_share(observed), importance_share(matrix)
        table = table.copy()
        table["pvalue"] = permutation_pvalues(observed, matrix, pooled=pooled)
        table["qvalue"] = bh_qvalues(table["pvalue"].to_numpy())
        table["significance"] = "permutation_pooled" if pooled else "permutation"
        table["significance_score"] = observed
        out.append(table)
    return pd.concat(out).loc[importance.index]
