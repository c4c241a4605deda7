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

``n_groups = K > 2`` generalises this the way seqgendiff's ``thin_diff`` does: with
group effects ``e_ref = 0`` and ``e_k`` (the planted log2 fold change of contrast k vs
the reference, 0 where gene j is not planted in it), every sample of group k is thinned
by ``2^(e_k − max_l e_l)``: the highest group keeps its counts and
``E[x'_k] / E[x'_ref] = 2^(e_k)`` for every contrast. With two groups this is the rule above.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from genexai.data.preprocess import median_of_ratios_log_geomeans, size_factors
from genexai.data.source import read_source
from genexai.data.validate import MIN_SAMPLES_PER_CLASS, validate_adata
from genexai.datasets.groups import group_levels, random_groups, truth_columns
from genexai.errors import ConfigError

__all__ = ["binomial_thin", "binomial_thin_groups", "draw_log2fc", "spike_in", "spikein_from_csv", "LFC_DISTRIBUTIONS"]

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

    The two-group case of :func:`binomial_thin_groups` (group A the reference).

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
    in_b = np.asarray(in_b, dtype=bool)
    log2fc = np.asarray(log2fc, dtype=np.float64)
    if in_b.ndim != 1 or log2fc.ndim != 1:
        raise ValueError(f"shapes: in_b {in_b.shape} and log2fc {log2fc.shape} must be vectors")
    return binomial_thin_groups(counts, in_b.astype(np.int64), np.vstack([np.zeros_like(log2fc), log2fc]), rng, library_thin_log2)


def binomial_thin_groups(
    counts: np.ndarray,
    group: np.ndarray,
    effects: np.ndarray,
    rng: np.random.Generator,
    library_thin_log2: float = 0.0,
) -> np.ndarray:
    """Impose per-group log2 effects on real counts by thinning every group below the highest.

    Parameters
    ----------
    counts
        Raw integer counts, samples × genes, all from one condition.
    group
        Group code per sample, an index into the rows of ``effects``.
    effects
        Groups × genes log2 effects; only differences between groups matter (row 0 = 0
        makes row k the log2 fold change of group k vs group 0).
    rng
        Random generator (only the thinned entries consume draws).
    library_thin_log2
        Extra thinning of every count by ``2^(−library_thin_log2)`` (lower depth); 0 = none.

    Returns
    -------
    numpy.ndarray
        New int64 counts; sample i of group k keeps gene j with probability
        ``2^(effects[k, j] − max_l effects[l, j] − library_thin_log2)``; entries with
        probability 1 are copied unchanged.
    """
    counts = np.asarray(counts)
    group = np.asarray(group)
    effects = np.asarray(effects, dtype=np.float64)
    if (
        counts.ndim != 2 or effects.ndim != 2 or group.shape != (counts.shape[0],) or effects.shape[1] != counts.shape[1]
    ):
        raise ValueError(f"shapes: counts {counts.shape}, group {group.shape}, effects {effects.shape} do not match")
    if group.size and not (np.issubdtype(group.dtype, np.integer) and 0 <= group.min() and group.max() < effects.shape[0]):
        raise ValueError(f"group codes must be integers in 0..{effects.shape[0] - 1}")
    if not np.isfinite(effects).all():
        raise ConfigError("spike-in log2 fold changes must be finite")
    if not (np.isfinite(library_thin_log2) and library_thin_log2 >= 0):
        raise ConfigError(f"library_thin_log2 must be >= 0 (thinning only removes reads), got {library_thin_log2}")
    out = counts.astype(np.int64, copy=True)
    varies = (effects != effects[:1]).any(axis=0)
    columns = np.arange(counts.shape[1]) if library_thin_log2 > 0 else np.flatnonzero(varies)
    if columns.size == 0:
        return out
    e = effects[:, columns]
    # log2 of the kept fraction: each group goes down by its distance to the highest group.
    down = (e.max(axis=0)[None, :] - e)[group]
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
    class_names: Sequence[str] | None = None,
    seed: int = 0,
    n_groups: int = 2,
) -> ad.AnnData:
    """Random groups (two by default) of real one-condition samples with planted DE genes.

    Parameters
    ----------
    adata
        Raw counts of samples from ONE condition (e.g. :func:`~genexai.data.source.read_source`).
    n_samples
        Samples drawn at random (without replacement) from ``adata``; ``None`` = all.
        Group B gets ``n_samples // 2``, group A the rest; with ``n_groups > 2`` the
        groups' sizes differ by at most one.
    de_fraction, n_de
        Number of DE genes: ``n_de`` if given, else ``round(de_fraction · n_genes)``
        (of all genes); they are drawn among the eligible genes. With ``n_groups > 2``,
        per contrast, drawn independently (a gene may be planted in several contrasts).
    lfc_distribution, lfc_mean, lfc_sd, up_fraction
        See :func:`draw_log2fc`; ``up_fraction`` of the DE genes go up in B.
    min_base_mean
        A gene is eligible for a spike when its mean size-factor-normalised count over
        the chosen samples (DESeq2's ``baseMean``) is at least this.
    library_thin_log2
        Thin every count by ``2^(−library_thin_log2)`` as well (0 = real depth).
    class_names
        Names of the groups in ``obs["condition"]``, reference first; ``None`` = "A",
        "B", "C", ...; log2 fold changes are of each level vs the reference.
    seed
        Seed of the generator choosing samples, groups, genes, effects and thinning.
    n_groups
        Number of groups K; every non-reference level gets its own planted genes vs the
        reference, imposed by :func:`binomial_thin_groups`.

    Returns
    -------
    anndata.AnnData
        ``X`` raw int64 counts; ``obs``: ``condition`` (categorical, the K levels in
        order), ``source_sample``, ``source_condition`` and the source's other metadata
        columns; ``var``: ``is_de``, ``true_log2fc`` (B vs A, 0 for non-DE) — with K > 2
        instead ``is_de`` (planted in any contrast), ``is_de_<level>`` and
        ``true_log2fc_<level>`` per non-reference level — then ``spike_eligible``,
        ``source_base_mean``; ``uns["spikein"]``: every parameter and the group sizes.
    """
    levels = group_levels(n_groups, class_names)
    rng = np.random.default_rng(seed)
    x_all = np.asarray(adata.X)
    n_total, n_genes = x_all.shape
    n_samples = n_total if n_samples is None else int(n_samples)
    if not n_groups * MIN_SAMPLES_PER_CLASS <= n_samples <= n_total:
        raise ConfigError(
            f"spike-in n_samples={n_samples}: the source has {n_total} samples of this condition; "
            f"choose between {n_groups * MIN_SAMPLES_PER_CLASS} and {n_total} (or null for all)"
        )
    chosen = np.sort(rng.choice(n_total, n_samples, replace=False))
    counts = x_all[chosen]
    group = random_groups(rng, n_samples, n_groups)

    base_mean = (counts / size_factors(counts, median_of_ratios_log_geomeans(counts))[:, None]).mean(axis=0)
    eligible = base_mean >= min_base_mean
    n_de = int(round(de_fraction * n_genes)) if n_de is None else int(n_de)
    if not 0 <= n_de <= eligible.sum():
        raise ConfigError(
            f"spike-in asks for {n_de} DE genes but only {int(eligible.sum())} of {n_genes} genes have a base mean "
            f">= min_base_mean={min_base_mean}; lower de_fraction/n_de or min_base_mean"
        )
    # Row k: group k's log2 effect; the reference row stays 0, so row k is contrast k vs it.
    effects = np.zeros((n_groups, n_genes))
    for k in range(1, n_groups):
        de_index = np.sort(rng.choice(np.flatnonzero(eligible), n_de, replace=False))
        effects[k, de_index] = draw_log2fc(n_de, rng, lfc_distribution, lfc_mean, lfc_sd, up_fraction)
    thinned = binomial_thin_groups(counts, group, effects, rng, library_thin_log2)

    source_obs = adata.obs.iloc[chosen]
    obs = pd.DataFrame(
        {
            "condition": pd.Categorical(np.asarray(levels)[group], categories=levels),
            "source_sample": source_obs.index.astype(str),
        },
        index=pd.Index(source_obs.index.astype(str), name="sample"),
    )
    for column in source_obs.columns:
        name = "source_condition" if column == "condition" else column
        if name not in obs:
            obs[name] = source_obs[column].to_numpy()
    truth = truth_columns(effects[1:] != 0, effects[1:], levels)
    var = pd.DataFrame(
        {**truth, "spike_eligible": eligible, "source_base_mean": base_mean},
        index=pd.Index(adata.var_names.astype(str), name="gene"),
    )
    out = ad.AnnData(X=thinned, obs=obs, var=var)
    out.uns["source"] = {**dict(adata.uns.get("source", {})), "spikein": True}
    out.uns["spikein"] = {
        "method": "binomial thinning of the lower group (Gerard 2020; seqgendiff thin_2group, relative=TRUE)",
        "n_samples": n_samples,
        "n_per_group": {level: int((group == k).sum()) for k, level in enumerate(levels)},
        "n_de": n_de,
        "n_up": int((effects[1] > 0).sum()),
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
    if n_groups > 2:
        out.uns["spikein"].update(
            method="binomial thinning of every group below the highest (Gerard 2020; seqgendiff thin_diff)",
            n_groups=n_groups,
            n_de_any=int(truth["is_de"].sum()),
            n_up={level: int((effects[k] > 0).sum()) for k, level in enumerate(levels) if k > 0},
        )
    validate_adata(out, "condition", source="spike-in dataset", n_classes=n_groups)
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
