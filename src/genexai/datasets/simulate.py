"""Negative-binomial RNA-seq simulator with planted differentially expressed genes.

The default dataset: it makes ``python train.py`` work on a fresh machine and, unlike
real data, it carries the truth (``var["is_de"]``, ``var["true_log2fc"]``), so the
harness can ask whether attributions or DESeq2 are closer to it.

Model (METHODS.md): ``x_ij ~ NB(mean = s_i · q_ij, dispersion α_j)`` with
``q_ij = μ_j · 2^(β_j · [i in B])``, log-normal ``μ_j``, and
``α_j = (a1 / μ_j + a0) · exp(ε_j)`` — DESeq2's dispersion trend plus log-normal scatter.
With ``n_groups = K > 2`` the exponent is ``β_jk`` of the sample's group k (0 for the
reference), each non-reference level with its own DE genes against the reference.

Alternatively the pairs ``(μ_j, α_j)`` are drawn from a real dataset
(``simulate_counts(params=nb_params_from_counts(real_counts))``): the genes then have
the real joint distribution of mean and dispersion, while the counts stay exactly NB,
unlike the spike-in datasets of :mod:`genexai.datasets.spikein`, which keep the real counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from genexai.data.preprocess import median_of_ratios_log_geomeans, size_factors
from genexai.data.source import read_source
from genexai.datasets.groups import group_levels, random_groups, truth_columns
from genexai.errors import ConfigError

__all__ = ["simulate_counts", "nb_params_from_counts", "nb_params_from_csv"]

#: DESeq2's bounds on gene-wise dispersions (``minDisp``; ``maxDisp = max(10, n_samples)``).
MIN_DISPERSION = 1e-8


def nb_params_from_counts(counts: np.ndarray | pd.DataFrame, gene_names: list[str] | None = None) -> pd.DataFrame:
    """Per-gene NB mean and dispersion of real counts from ONE condition (method of moments).

    With median-of-ratios size factors ``s_i`` (METHODS.md) and normalised counts
    ``y_ij = x_ij / s_i``: ``μ_j = mean_i y_ij`` and, since ``Var(y_ij) = μ_j/s_i + α_j μ_j²``
    under ``NB(s_i μ_j, α_j)``, ``α_j = (var_i y_ij − μ_j · mean_i(1/s_i)) / μ_j²`` —
    DESeq2's ``momentsDispEstimate`` — clipped to ``[1e-8, max(10, n)]`` like DESeq2's
    gene-wise estimates. No trend or shrinkage: the scatter of the estimates (larger with
    few samples) is passed on, so fit it on many replicates of one condition (mixing
    conditions would count the DE effect as dispersion).

    Parameters
    ----------
    counts
        Raw integer counts, samples × genes (a DataFrame gives the gene names).
    gene_names
        Names for the columns of a plain array.

    Returns
    -------
    pandas.DataFrame
        Indexed by gene, columns ``base_mean`` (μ) and ``dispersion`` (α), genes with
        zero counts in every sample left out; ``attrs["log_size_factor_sd"]`` holds the sd
        of the samples' log size factors.
    """
    if isinstance(counts, pd.DataFrame):
        gene_names = list(counts.columns) if gene_names is None else gene_names
        counts = counts.to_numpy()
    counts = np.asarray(counts, dtype=np.float64)
    n_samples, n_genes = counts.shape
    if n_samples < 3:
        raise ConfigError(f"estimating NB dispersions needs at least 3 samples of one condition, got {n_samples}")
    gene_names = [f"gene_{j:05d}" for j in range(n_genes)] if gene_names is None else list(gene_names)
    factors = size_factors(counts, median_of_ratios_log_geomeans(counts))
    normalised = counts / factors[:, None]
    mean = normalised.mean(axis=0)
    expressed = mean > 0
    variance = normalised.var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        dispersion = (variance - mean * np.mean(1.0 / factors)) / mean**2
    dispersion = np.clip(dispersion, MIN_DISPERSION, max(10.0, n_samples))
    table = pd.DataFrame(
        {"base_mean": mean[expressed], "dispersion": dispersion[expressed]},
        index=pd.Index(np.asarray(gene_names)[expressed], name="gene"),
    )
    table.attrs["log_size_factor_sd"] = float(np.log(factors).std(ddof=1))
    return table


def nb_params_from_csv(
    counts_path: str | Path,
    metadata_path: str | Path,
    level: str,
    condition_key: str = "condition",
    exclude_column: str | None = None,
) -> pd.DataFrame:
    """:func:`nb_params_from_counts` on the unflagged samples of one condition of a counts CSV."""
    source = read_source(counts_path, metadata_path, level, condition_key, exclude_column)
    table = nb_params_from_counts(np.asarray(source.X), list(source.var_names))
    table.attrs["source"] = {**source.uns["source"], "n_samples": int(source.n_obs)}
    return table


def _real_params(params: pd.DataFrame | Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    try:
        mu = np.asarray(params["base_mean"], dtype=np.float64)
        dispersion = np.asarray(params["dispersion"], dtype=np.float64)
    except KeyError:
        raise ConfigError("simulate_counts params need 'base_mean' and 'dispersion' per gene (see nb_params_from_counts)") from None
    if mu.shape != dispersion.shape or mu.ndim != 1 or mu.size == 0:
        raise ConfigError("simulate_counts params: 'base_mean' and 'dispersion' must be non-empty vectors of one length")
    if not ((mu > 0) & np.isfinite(mu) & (dispersion > 0) & np.isfinite(dispersion)).all():
        raise ConfigError("simulate_counts params: base means and dispersions must be positive and finite")
    names = np.asarray(params.index, dtype=str) if isinstance(params, pd.DataFrame) else None
    return mu, dispersion, names


def simulate_counts(
    n_samples: int = 200,
    n_genes: int = 2000,
    de_fraction: float = 0.05,
    lfc_mean: float = 1.0,
    lfc_sd: float = 0.3,
    log_mean_mu: float = 4.5,
    log_sd_mu: float = 1.8,
    dispersion_a0: float = 0.1,
    dispersion_a1: float = 1.0,
    dispersion_scatter: float = 0.5,
    size_factor_sd: float = 0.25,
    class_balance: float = 0.5,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
    params: pd.DataFrame | Mapping | None = None,
    n_groups: int = 2,
) -> ad.AnnData:
    """Simulate raw counts for an experiment of ``n_groups`` groups (two by default).

    Parameters
    ----------
    n_samples, n_genes
        Size of the count matrix (samples × genes).
    de_fraction
        Fraction of genes with a non-zero log2 fold change (0 gives a null dataset); with
        more than two groups, per contrast (drawn independently, so a gene may be DE in several).
    lfc_mean, lfc_sd
        ``|β_j| ~ |N(lfc_mean, lfc_sd)|`` for DE genes; the sign is random (half up in B).
    log_mean_mu, log_sd_mu
        Natural-log mean and sd of the gene base means ``μ_j``.
    dispersion_a0, dispersion_a1, dispersion_scatter
        Dispersion trend ``a1/μ + a0`` and the sd of its log-normal scatter.
    size_factor_sd
        Sd of log size factors (library-size variation between samples).
    class_balance
        Fraction of samples in group B (two groups only; more are split near-equally).
    class_names
        Names of the levels, reference first; ``None`` = "A", "B", "C", ...
    seed
        Seed of the random generator; the same seed gives the same dataset.
    params
        Real per-gene ``base_mean`` and ``dispersion`` (:func:`nb_params_from_counts`).
        When given, ``n_genes`` pairs ``(μ_j, α_j)`` are drawn from it (without
        replacement when ``n_genes`` ≤ its genes, else with), replacing the log-normal
        means and the dispersion trend (``log_mean_mu`` … ``dispersion_scatter`` are
        then unused); ``var["source_gene"]`` names the real gene behind each one.
        ``None`` (default) keeps the parametric model and its exact random stream.
    n_groups
        Number of groups K. Every non-reference level gets its own DE genes against the
        reference (the first level). Two groups write ``var["is_de"]`` and
        ``var["true_log2fc"]`` (B vs A); more write ``var["is_de"]`` (DE in any contrast)
        and ``var["is_de_<level>"]``, ``var["true_log2fc_<level>"]`` per non-reference
        level (:func:`~genexai.datasets.groups.truth_columns`).
    """
    levels = group_levels(n_groups, class_names)
    if n_groups > 2 and class_balance != 0.5:
        raise ConfigError(
            f"data.adata.class_balance={class_balance} applies to two groups only; n_groups={n_groups} splits near-equally"
        )
    rng = np.random.default_rng(seed)
    if n_groups == 2:  # the historical draw, kept so that two-group datasets do not change
        group = np.zeros(n_samples, dtype=np.int64)
        group[rng.choice(n_samples, int(round(n_samples * class_balance)), replace=False)] = 1
    else:
        group = random_groups(rng, n_samples, n_groups)

    source_gene = None
    if params is None:
        mu = np.exp(rng.normal(log_mean_mu, log_sd_mu, n_genes))
        dispersion = (dispersion_a1 / mu + dispersion_a0) * np.exp(rng.normal(0.0, dispersion_scatter, n_genes))
    else:
        real_mu, real_dispersion, real_names = _real_params(params)
        pick = rng.choice(real_mu.size, n_genes, replace=n_genes > real_mu.size)
        mu, dispersion = real_mu[pick], real_dispersion[pick]
        source_gene = real_names[pick] if real_names is not None else pick
    n_de = int(round(de_fraction * n_genes))
    # Row k - 1: contrast k vs the reference; the reference row of `effects` stays 0.
    is_de = np.zeros((n_groups - 1, n_genes), dtype=bool)
    effects = np.zeros((n_groups, n_genes))
    for k in range(1, n_groups):
        is_de[k - 1, rng.choice(n_genes, n_de, replace=False)] = True
        effects[k, is_de[k - 1]] = np.abs(rng.normal(lfc_mean, lfc_sd, n_de)) * rng.choice([-1.0, 1.0], n_de)

    size_factors = np.exp(rng.normal(0.0, size_factor_sd, n_samples))
    mean = size_factors[:, None] * mu[None, :] * np.exp2(effects[group])
    # NB(mean m, dispersion α) as numpy's (n, p): n = 1/α, p = n / (n + m).
    n = 1.0 / dispersion
    counts = rng.negative_binomial(n[None, :], n[None, :] / (n[None, :] + mean)).astype(np.int64)

    obs = pd.DataFrame(
        {"condition": pd.Categorical(np.asarray(levels)[group], categories=levels)},
        index=pd.Index([f"sample_{i:04d}" for i in range(n_samples)], name="sample"),
    )
    obs["true_size_factor"] = size_factors
    var = pd.DataFrame(
        {**truth_columns(is_de, effects[1:], levels), "true_base_mean": mu, "true_dispersion": dispersion},
        index=pd.Index([f"gene_{j:05d}" for j in range(n_genes)], name="gene"),
    )
    if source_gene is not None:
        var["source_gene"] = source_gene
    adata = ad.AnnData(X=counts, obs=obs, var=var)
    adata.uns["source"] = {"simulated": True, "seed": seed}
    if n_groups > 2:
        adata.uns["source"]["n_groups"] = n_groups
    if params is not None:
        adata.uns["source"]["params"] = dict(getattr(params, "attrs", {}).get("source", {"from": "given table"}))
    return adata
