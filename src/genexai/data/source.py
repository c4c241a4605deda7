"""Real samples as raw material for semi-synthetic datasets (spike-in, NB fit, subsampling).

A semi-synthetic dataset starts from the real samples of one condition (or of both, for
replicate subsampling), minus the replicates the data's authors flagged as outliers
(``flagged_bad_replicate`` in yeast_snf2). These helpers make that choice explicit and
fail with a message naming the metadata column and its values.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from genexai.data.io import read_counts_csv
from genexai.errors import DataError

__all__ = ["drop_flagged", "select_level", "read_source"]

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", "", "nan"}


def _flag_values(column: pd.Series, name: str, source: str) -> np.ndarray:
    """Boolean flags from a bool, 0/1 or True/False-text metadata column."""
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=bool)
    text = column.astype(str).str.strip().str.lower()
    unknown = sorted(set(text) - _TRUE - _FALSE)
    if unknown:
        raise DataError(source, f"column {name!r} must hold True/False flags; found {unknown[:3]}")
    return text.isin(_TRUE).to_numpy()


def drop_flagged(adata: ad.AnnData, column: str | None, source: str = "<data>") -> ad.AnnData:
    """Remove the samples whose ``obs[column]`` is true (``None`` keeps every sample)."""
    if column is None:
        return adata
    if column not in adata.obs:
        raise DataError(
            source,
            f"exclusion column {column!r} not in the metadata (columns: {list(adata.obs.columns)[:8]}); "
            f"set exclude_column=null to keep every sample",
        )
    flagged = _flag_values(adata.obs[column], column, source)
    return adata[~flagged].copy()


def select_level(adata: ad.AnnData, condition_key: str, level: str, source: str = "<data>") -> ad.AnnData:
    """The samples of one condition level, in file order."""
    labels = adata.obs[condition_key].astype(str)
    if level not in set(labels):
        raise DataError(
            source, f"condition level {level!r} not found in column {condition_key!r}; levels: {sorted(set(labels))}"
        )
    return adata[(labels == level).to_numpy()].copy()


def read_source(
    counts_path: str | Path,
    metadata_path: str | Path,
    level: str | None,
    condition_key: str = "condition",
    exclude_column: str | None = None,
) -> ad.AnnData:
    """Read a counts/metadata CSV pair and keep the unflagged samples of ``level``.

    Parameters
    ----------
    counts_path, metadata_path
        As in :func:`~genexai.data.io.read_counts_csv`.
    level
        Condition level whose samples are kept; ``None`` keeps every level.
    condition_key
        Metadata column holding the condition.
    exclude_column
        Boolean metadata column marking samples to drop (e.g. ``flagged_bad_replicate``).
    """
    adata = read_counts_csv(counts_path, metadata_path, condition_key=condition_key, check_levels=False)
    adata = drop_flagged(adata, exclude_column, source=str(metadata_path))
    if level is not None:
        adata = select_level(adata, condition_key, str(level), source=str(metadata_path))
    adata.uns["source"] = {
        "counts": str(counts_path),
        "metadata": str(metadata_path),
        "level": "all" if level is None else str(level),
        "excluded_by": exclude_column or "none",
    }
    return adata
