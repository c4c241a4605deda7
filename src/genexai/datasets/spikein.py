"""Semi-synthetic ground truth: known fold changes spiked into real counts by binomial thinning.

Real samples of ONE condition carry real library sizes, real dispersion, real gene-gene
correlation and whatever else a parametric simulator leaves out, but no true difference
between random groups of them. Binomial thinning (Gerard 2020, "Data-based RNA-seq
simulations by binomial thinning", BMC Bioinformatics 21:206; R package seqgendiff,
``thin_2group``) plants a known one (METHODS.md, *Binomial thinning*):

1. split the real samples at random into two balanced groups A and B;
2. give a set of eligible genes a log2 fold change ``c_j`` (B vs A);
3. thin the group that must go down: ``x' ~ Binomial(x, 2^(−|c_j|))`` on group A when
   ``c_j > 0``, on group B when ``c_j < 0``; the other group keeps its counts.

This is seqgendiff's *relative* convention (``thin_base(relative = TRUE)``): the
per-gene thinning probability is ``2^(c_j·[i in B] − max(0, c_j))``, i.e. relative to
the larger group, so only down-scaling is ever applied. Because both groups are random
draws from one population, ``E[x'_B] / E[x'_A] = 2^(c_j)`` exactly, whatever the gene's
real distribution. The down-regulated group loses depth for that gene only.

Genes that are not DE keep their real counts exactly — unless ``library_thin_log2 > 0``,
which thins EVERY count of every sample by ``2^(−library_thin_log2)`` (seqgendiff
``thin_all``, a lower sequencing depth); then the non-DE genes' only change is that
library-size factor. The two thinnings compose into one binomial draw with probability
``2^(−library_thin_log2 − down_j)``, which has exactly the law of thinning twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from genexai.data.preprocess import median_of_ratios_log_geomeans, size_factors
from genexai.data.source import read_source
from genexai.data.validate import MIN_SAMPLES_PER_CLASS, validate_adata
from genexai.errors import ConfigError

__all__ = ["binomial_thin", "draw_log2fc", "spike_in", "spikein_from_csv", "LFC_DISTRIBUTIONS"]

#: Shapes of the |log2 fold change| distribution of the spiked genes.
LFC_DISTRIBUTIONS = ("normal", "fixed")


def binomial_thin(
    counts: np.ndarray,
    in_b: np.ndarray,
    log2fc: np.ndarray,
    rng: np.random.Generator,
    library_thin_log2: float = 0.0,
) -> np.ndarray:
    """Impose log2 fold changes (B vs A) on real counts by thinning the lower group.

    Parameters
    ----------
    counts
        Raw integer counts, samples × genes, all from one condition.
    in_b
        Boolean per sample: member of group B.
    log2fc
        Per-gene log2 fold change of B vs A (0 = unchanged).
    rng
        Random generator (only the thinned entries consume draws).
    library_thin_log2
        Extra thinning of every count by ``2^(−library_thin_log2)`` (lower depth); 0 = none.

    Returns
    -------
    numpy.ndarray
        New int64 counts; entries with thinning probability 1 are copied unchanged.
    """
    counts = np.asarray(counts)
    in_b = np.asarray(in_b, dtype=bool)
    log2fc = np.asarray(log2fc, dtype=np.float64)
    if counts.ndim != 2 or in_b.shape != (counts.shape[0],) or log2fc.shape != (counts.shape[1],):
        raise ValueError(f"shapes: counts {counts.shape}, in_b {in_b.shape}, log2fc {log2fc.shape} do not match")
    if not np.isfinite(log2fc).all():
        raise ConfigError("spike-in log2 fold changes must be finite")
    if not (np.isfinite(library_thin_log2) and library_thin_log2 >= 0):
        raise ConfigError(f"library_thin_log2 must be >= 0 (thinning only removes reads), got {library_thin_log2}")
    out = counts.astype(np.int64, copy=True)
    columns = np.arange(counts.shape[1]) if library_thin_log2 > 0 else np.flatnonzero(log2fc != 0)
    if columns.size == 0:
        return out
    c = log2fc[columns]
    # log2 of the kept fraction: group A goes down by max(c, 0), group B by max(-c, 0).
    down = np.where(in_b[:, None], np.maximum(-c, 0.0)[None, :], np.maximum(c, 0.0)[None, :])
    prob = np.exp2(-(down + library_thin_log2))
    block = out[:, columns]
    thinned = prob < 1.0
    block[thinned] = rng.binomial(block[thinned], prob[thinned])
    out[:, columns] = block
    return out


def draw_log2fc(
    n: int,
    rng: np.random.Generator,
    distribution: str = "normal",
    lfc_mean: float = 1.0,
    lfc_sd: float = 0.3,
    up_fraction: float = 0.5,
) -> np.ndarray:
    """Signed log2 fold changes: ``|c| ~ |N(lfc_mean, lfc_sd)|`` (or ``= lfc_mean``), ``round(up_fraction·n)`` up."""
    if distribution not in LFC_DISTRIBUTIONS:
        raise ConfigError(f"lfc_distribution must be one of {list(LFC_DISTRIBUTIONS)}, got {distribution!r}")
    if not 0.0 <= up_fraction <= 1.0:
        raise ConfigError(f"up_fraction must be in [0, 1], got {up_fraction}")
    if distribution == "fixed":
        if lfc_mean <= 0:
            raise ConfigError(f"a fixed log2 fold change needs lfc_mean > 0, got {lfc_mean}")
        size = np.full(n, float(lfc_mean))
    else:
        size = np.abs(rng.normal(lfc_mean, lfc_sd, n))
    n_up = int(round(up_fraction * n))
    sign = rng.permutation(np.r_[np.ones(n_up), -np.ones(n - n_up)])
    return size * sign


def spike_in(
    adata: ad.AnnData,
    n_samples: int | None = None,
    de_fraction: float = 0.05,
    n_de: int | None = None,
    lfc_distribution: str = "normal",
    lfc_mean: float = 1.0,
    lfc_sd: float = 0.3,
    up_fraction: float = 0.5,
    min_base_mean: float = 10.0,
    library_thin_log2: float = 0.0,
    class_names: tuple[str, str] = ("A", "B"),
    seed: int = 0,
) -> ad.AnnData:
    """Two random groups of real one-condition samples with planted DE genes.

    Parameters
    ----------
    adata
        Raw counts of samples from ONE condition (e.g. :func:`~genexai.data.source.read_source`).
    n_samples
        Samples drawn at random (without replacement) from ``adata``; ``None`` = all.
        Group B gets ``n_samples // 2``, group A the rest.
    de_fraction, n_de
        Number of DE genes: ``n_de`` if given, else ``round(de_fraction · n_genes)``
        (of all genes); they are drawn among the eligible genes.
    lfc_distribution, lfc_mean, lfc_sd, up_fraction
        See :func:`draw_log2fc`; ``up_fraction`` of the DE genes go up in B.
    min_base_mean
        A gene is eligible for a spike when its mean size-factor-normalised count over
        the chosen samples (DESeq2's ``baseMean``) is at least this.
    library_thin_log2
        Thin every count by ``2^(−library_thin_log2)`` as well (0 = real depth).
    class_names
        Names of the two groups in ``obs["condition"]``; log2 fold changes are B vs A.
    seed
        Seed of the generator choosing samples, groups, genes, effects and thinning.

    Returns
    -------
    anndata.AnnData
        ``X`` raw int64 counts; ``obs``: ``condition`` (categorical A/B),
        ``source_sample``, ``source_condition`` and the source's other metadata columns;
        ``var``: ``is_de``, ``true_log2fc`` (B vs A, 0 for non-DE), ``spike_eligible``,
        ``source_base_mean``; ``uns["spikein"]``: every parameter and the group sizes.
    """
    rng = np.random.default_rng(seed)
    x_all = np.asarray(adata.X)
    n_total, n_genes = x_all.shape
    n_samples = n_total if n_samples is None else int(n_samples)
    if not 2 * MIN_SAMPLES_PER_CLASS <= n_samples <= n_total:
        raise ConfigError(
            f"spike-in n_samples={n_samples}: the source has {n_total} samples of this condition; "
            f"choose between {2 * MIN_SAMPLES_PER_CLASS} and {n_total} (or null for all)"
        )
    chosen = np.sort(rng.choice(n_total, n_samples, replace=False))
    counts = x_all[chosen]
    in_b = np.zeros(n_samples, dtype=bool)
    in_b[rng.permutation(n_samples)[: n_samples // 2]] = True

    base_mean = (counts / size_factors(counts, median_of_ratios_log_geomeans(counts))[:, None]).mean(axis=0)
    eligible = base_mean >= min_base_mean
    n_de = int(round(de_fraction * n_genes)) if n_de is None else int(n_de)
    if not 0 <= n_de <= eligible.sum():
        raise ConfigError(
            f"spike-in asks for {n_de} DE genes but only {int(eligible.sum())} of {n_genes} genes have a base mean "
            f">= min_base_mean={min_base_mean}; lower de_fraction/n_de or min_base_mean"
        )
    de_index = np.sort(rng.choice(np.flatnonzero(eligible), n_de, replace=False))
    log2fc = np.zeros(n_genes)
    log2fc[de_index] = draw_log2fc(n_de, rng, lfc_distribution, lfc_mean, lfc_sd, up_fraction)
    thinned = binomial_thin(counts, in_b, log2fc, rng, library_thin_log2)

    source_obs = adata.obs.iloc[chosen]
    obs = pd.DataFrame(
        {
            "condition": pd.Categorical(np.where(in_b, class_names[1], class_names[0]), categories=list(class_names)),
            "source_sample": source_obs.index.astype(str),
        },
        index=pd.Index(source_obs.index.astype(str), name="sample"),
    )
    for column in source_obs.columns:
        name = "source_condition" if column == "condition" else column
        if name not in obs:
            obs[name] = source_obs[column].to_numpy()
    var = pd.DataFrame(
        {"is_de": log2fc != 0, "true_log2fc": log2fc, "spike_eligible": eligible, "source_base_mean": base_mean},
        index=pd.Index(adata.var_names.astype(str), name="gene"),
    )
    out = ad.AnnData(X=thinned, obs=obs, var=var)
    out.uns["source"] = {**dict(adata.uns.get("source", {})), "spikein": True}
    out.uns["spikein"] = {
        "method": "binomial thinning of the lower group (Gerard 2020; seqgendiff thin_2group, relative=TRUE)",
        "n_samples": n_samples,
        "n_per_group": {class_names[0]: int((~in_b).sum()), class_names[1]: int(in_b.sum())},
        "n_de": n_de,
        "n_up": int((log2fc > 0).sum()),
        "n_eligible": int(eligible.sum()),
        "de_fraction": float(de_fraction),
        "lfc_distribution": lfc_distribution,
        "lfc_mean": float(lfc_mean),
        "lfc_sd": float(lfc_sd),
        "up_fraction": float(up_fraction),
        "min_base_mean": float(min_base_mean),
        "library_thin_log2": float(library_thin_log2),
        "seed": int(seed),
    }
    validate_adata(out, "condition", source="spike-in dataset")
    return out


def spikein_from_csv(
    counts_path: str | Path,
    metadata_path: str | Path,
    source_level: str,
    condition_key: str = "condition",
    exclude_column: str | None = None,
    source_name: str = "source",
    **spike: Any,
) -> ad.AnnData:
    """Read the samples of ``source_level`` (minus flagged ones) and :func:`spike_in` fold changes.

    ``spike`` takes the keyword arguments of :func:`spike_in` (``n_samples``,
    ``de_fraction``, ``lfc_mean``, ``seed``, ...). This is the ``_target_`` of
    ``configs/data/spikein.yaml``.
    """
    source = read_source(counts_path, metadata_path, source_level, condition_key, exclude_column)
    out = spike_in(source, **spike)
    out.uns["source"]["name"] = source_name
    return out
