"""Checks that a dataset can support a two-class comparison before any work is done."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np

from genexai.errors import DataError

__all__ = ["validate_adata", "MIN_SAMPLES_PER_CLASS"]

#: DESeq2 cannot estimate dispersion with a single replicate per class.
MIN_SAMPLES_PER_CLASS = 2


def validate_adata(
    adata: ad.AnnData,
    condition_key: str,
    source: str | Path = "<data>",
    metadata_source: str | Path | None = None,
    n_classes: int | None = None,
    check_levels: bool = True,
) -> None:
    """Raise :class:`DataError` if ``adata`` is not a usable raw-count dataset of two or more classes.

    Checks the counts themselves (integers, finite, non-negative, no all-zero sample),
    unique IDs, and the condition column (present, at least two levels — exactly
    ``n_classes`` when given —, each with at least :data:`MIN_SAMPLES_PER_CLASS`
    samples). ``check_levels=False`` checks the column is present and complete but not
    its levels: a source of real samples for a semi-synthetic dataset may hold a single
    condition.
    """
    meta_source = metadata_source or source
    x = np.asarray(adata.X)
    if x.size == 0:
        raise DataError(source, "no counts (0 samples or 0 genes)")
    if not np.issubdtype(x.dtype, np.integer):
        if not np.isfinite(x).all():
            raise DataError(source, "counts contain NaN/inf")
        if (np.mod(x, 1) != 0).any():
            raise DataError(source, "counts must be raw integers (found fractional values)")
    if (x < 0).any():
        raise DataError(source, "counts contain negative values")
    for name, index in (("sample", adata.obs_names), ("gene", adata.var_names)):
        if index.has_duplicates:
            raise DataError(source, f"duplicated {name} ID {index[index.duplicated()][0]!r}")
    zero = np.flatnonzero(x.sum(axis=1) == 0)
    if zero.size:
        raise DataError(source, f"sample {adata.obs_names[zero[0]]!r} has zero counts for every gene; remove it")
    if condition_key not in adata.obs:
        raise DataError(
            meta_source,
            f"condition column {condition_key!r} not found in metadata; columns: {list(adata.obs.columns)[:8]} "
            f"(set data.condition_key)",
        )
    labels = adata.obs[condition_key]
    if labels.isna().any():
        raise DataError(meta_source, f"condition column {condition_key!r} has missing values")
    if not check_levels:
        return
    counts = labels.astype(str).value_counts()
    if len(counts) < 2:
        raise DataError(meta_source, f"condition {condition_key!r} has one level only ({counts.index[0]!r}); need two classes")
    if n_classes is not None and len(counts) != n_classes:
        raise DataError(
            meta_source,
            f"condition {condition_key!r} has {len(counts)} levels {sorted(counts.index)}; expected {n_classes} "
            f"(subset the samples or choose another column)",
        )
    small = counts[counts < MIN_SAMPLES_PER_CLASS]
    if len(small):
        raise DataError(
            meta_source,
            f"class {small.index[0]!r} has {small.iloc[0]} sample(s); at least {MIN_SAMPLES_PER_CLASS} per class are needed",
        )
