"""Replicate-subsampling truth: DESeq2 on every good replicate as the reference, a few replicates as the data.

The yeast snf2 experiment (Schurch et al. 2016) has 48 + 48 biological replicates, far
more than a typical study. DESeq2 on all the good ones (42 wt + 44 snf2 after dropping
the authors' flagged outliers) gives a high-power reference call set; the model and the
DESeq2 baseline then see only ``n_per_group`` random replicates per condition, as in a
small experiment, and are scored against the reference (``var["is_de"]``).

Be honest about what that truth is:

* it is **DESeq2 on 86 samples, a reference, not an oracle**: its calls inherit
  DESeq2's model (and any FDR inflation), and genes with tiny real effects become
  "true" at that power while a planted truth (spike-in, simulation) would not list them;
* it is **not independent of the subsample**: the subsampled replicates are among the
  86 that defined it (Schurch et al. did the same). A method sharing DESeq2's
  assumptions is favoured, and the subsample's noise leaks slightly into the truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import anndata as ad
import numpy as np
import pandas as pd

from genexai.data.source import read_source
from genexai.data.split import min_samples_per_class
from genexai.data.validate import validate_adata
from genexai.de.hits import de_hits
from genexai.errors import ConfigError

__all__ = ["DEMethodLike", "reference_truth", "subsample_replicates", "replicate_subsample_from_csv"]


class DEMethodLike(Protocol):
    """What a truth builder needs of a DE method (:class:`genexai.de.DEMethod` satisfies it)."""

    def test(self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None) -> tuple[pd.DataFrame, bool]: ...


def reference_truth(
    adata: ad.AnnData,
    condition_key: str = "condition",
    reference_level: str | None = None,
    alpha: float = 0.05,
    lfc_threshold: float = 0.0,
    *,
    de_method: DEMethodLike,
) -> tuple[pd.DataFrame, bool]:
    """``de_method`` (DESeq2, handed in by the pipeline) on every sample; truth = ``padj < alpha`` and ``|log2FC| >= lfc_threshold``.

    Returns
    -------
    table : pandas.DataFrame
        The DESeq2 results, plus a boolean column ``is_de`` (untestable genes, with NaN
        ``padj``, are not DE).
    cache_hit : bool
        Whether the DESeq2 table came from the cache.
    """
    counts = pd.DataFrame(np.asarray(adata.X), index=adata.obs_names, columns=adata.var_names)
    table, cache_hit = de_method.test(counts, adata.obs[[condition_key]], design=f"~{condition_key}", ref_level=reference_level)
    table = table.copy()
    table["is_de"] = de_hits(table, alpha, lfc_threshold).to_numpy(dtype=bool)
    return table, cache_hit


def subsample_replicates(
    adata: ad.AnnData, n_per_group: int, condition_key: str = "condition", seed: int = 0
) -> ad.AnnData:
    """``n_per_group`` random samples of every condition level (file order kept)."""
    rng = np.random.default_rng(seed)
    labels = adata.obs[condition_key].astype(str).to_numpy()
    keep = []
    for level in sorted(set(labels)):
        members = np.flatnonzero(labels == level)
        if n_per_group > members.size:
            raise ConfigError(
                f"n_per_group={n_per_group} but condition {level!r} has only {members.size} usable samples; "
                f"set data.adata.n_per_group <= {members.size}"
            )
        keep.append(rng.choice(members, n_per_group, replace=False))
    return adata[np.sort(np.concatenate(keep))].copy()


def replicate_subsample_from_csv(
    counts_path: str | Path,
    metadata_path: str | Path,
    n_per_group: int = 12,
    condition_key: str = "condition",
    reference_level: str | None = None,
    exclude_column: str | None = "flagged_bad_replicate",
    truth_alpha: float = 0.05,
    truth_lfc_threshold: float = 0.0,
    *,
    de_method: DEMethodLike,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> ad.AnnData:
    """Reference truth from all good replicates, then a random ``n_per_group`` subsample.

    Parameters
    ----------
    counts_path, metadata_path
        Counts/metadata CSV pair with two conditions and many replicates of each.
    n_per_group
        Replicates per condition in the returned dataset. The data module splits them
        again (train/val/test), so it must be at least
        :func:`~genexai.data.split.min_samples_per_class` of ``val_fraction`` and
        ``test_fraction`` (4 with the defaults 0.15/0.2); DESeq2's baseline then sees
        only the training part.
    condition_key, reference_level
        Condition column and its reference level (log2 fold changes are the other
        level vs this one).
    exclude_column
        Boolean metadata column of samples left out of the truth and the subsample.
    truth_alpha, truth_lfc_threshold
        Reference call: ``padj < truth_alpha`` and ``|log2FC| >= truth_lfc_threshold``.
    de_method
        The DESeq2 method of the run's ``${de}`` config (cached: the full-data fit runs
        once), handed in by :func:`genexai.pipeline.build.build_datamodule`; its
        ``alpha`` drives independent filtering (``de.alpha``, 0.05 by default).
    val_fraction, test_fraction
        The data module's split fractions, to refuse a too small ``n_per_group`` before
        any work is done.
    seed
        Seed of the subsample (the truth does not depend on it).

    Returns
    -------
    anndata.AnnData
        The subsample's raw counts and metadata; ``var``: ``is_de`` (reference call),
        ``true_log2fc`` (full-data DESeq2 log2FC for every gene, 0 where it could not
        be estimated), ``reference_padj``, ``reference_base_mean``;
        ``uns["subsample"]``: parameters, reference sample counts and the number of
        reference DE genes.
    """
    smallest = min_samples_per_class(val_fraction, test_fraction)
    if n_per_group < smallest:
        raise ConfigError(
            f"data.adata.n_per_group={n_per_group} is too small for a train/val/test split (val_fraction={val_fraction}, "
            f"test_fraction={test_fraction}): the minimum is n_per_group={smallest}"
        )
    full = read_source(counts_path, metadata_path, None, condition_key, exclude_column)
    validate_adata(full, condition_key, source=counts_path, metadata_source=metadata_path)
    table, cache_hit = reference_truth(
        full, condition_key, reference_level, truth_alpha, truth_lfc_threshold, de_method=de_method
    )
    table = table.reindex(full.var_names)
    out = subsample_replicates(full, int(n_per_group), condition_key, seed)
    out.var["is_de"] = table["is_de"].fillna(False).to_numpy(dtype=bool)
    out.var["true_log2fc"] = table["log2FoldChange"].fillna(0.0).to_numpy(dtype=np.float64)
    out.var["reference_padj"] = table["padj"].to_numpy(dtype=np.float64)
    out.var["reference_base_mean"] = table["baseMean"].to_numpy(dtype=np.float64)
    labels = full.obs[condition_key].astype(str)
    out.uns["subsample"] = {
        "truth": "DESeq2 on all good replicates (a reference, not an oracle; includes the subsample)",
        "reference_samples": {str(k): int(v) for k, v in labels.value_counts().sort_index().items()},
        "reference_n_de": int(out.var["is_de"].sum()),
        "reference_cache_hit": bool(cache_hit),
        "truth_alpha": float(truth_alpha),
        "truth_lfc_threshold": float(truth_lfc_threshold),
        "n_per_group": int(n_per_group),
        "seed": int(seed),
    }
    validate_adata(out, condition_key, source="replicate subsample")
    return out
