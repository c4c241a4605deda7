"""Read raw counts + sample metadata into :class:`anndata.AnnData`.

Two layouts are supported, both producing ``X`` = raw integer counts (samples × genes),
``obs`` = sample metadata and ``var`` = one row per gene:

* the PyDESeq2 CSV convention: a counts table with one row per sample (first column
  ``sample``) and a metadata table with the same sample IDs in its first column;
* an ``.h5ad`` file, with counts in ``X`` or in a named layer.

Every problem is raised as :class:`~genexai.errors.DataError` naming the file, so entry
points can print a single line instead of a pandas traceback.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections import Counter
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from genexai.data.validate import validate_adata
from genexai.errors import DataError

__all__ = ["read_counts_csv", "read_h5ad", "read_table"]


def _existing(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        hint = ""
        if "shared/data" in str(path):
            hint = " (set the data root with GENEXAI_DATA_DIR or paths.data_dir=...)"
        raise DataError(path, f"file not found{hint}")
    return path


def read_table(path: str | Path, what: str) -> pd.DataFrame:
    """Read a CSV/TSV (optionally gzipped) whose first column holds sample IDs."""
    path = _existing(path)
    try:
        with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as handle:
            head = handle.readline()
        if not head.strip():
            raise DataError(path, f"{what} file is empty")
        sep = "\t" if head.count("\t") > head.count(",") else ","
        # pandas silently renames duplicated columns ("g1" → "g1.1"): check the raw header.
        header = next(csv.reader([head], delimiter=sep))[1:]
        duplicated = sorted(name for name, n in Counter(header).items() if n > 1)
        if duplicated:
            label = "gene ID" if what == "counts" else "column"
            raise DataError(path, f"duplicated {label} {duplicated[0]!r} in the {what} header")
        table = pd.read_csv(path, sep=sep, index_col=0)
    except DataError:
        raise
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
        raise DataError(path, f"cannot decompress/read {what} file ({err}); is the download truncated?") from None
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError) as err:
        first = str(err).splitlines()[0]
        raise DataError(path, f"malformed {what} CSV ({first})") from None
    except pd.errors.EmptyDataError:
        raise DataError(path, f"{what} file is empty") from None
    if table.shape[1] == 0:
        raise DataError(path, f"{what} table has a single column; expected comma- or tab-separated columns")
    if table.shape[0] == 0:
        raise DataError(path, f"{what} table has a header but no rows")
    table.index = table.index.astype(str)
    table.columns = table.columns.astype(str)
    return table


def _counts_matrix(table: pd.DataFrame, path: Path) -> np.ndarray:
    """Convert the counts table to int64, refusing values that are not raw counts."""
    non_numeric = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
    if non_numeric:
        raise DataError(
            path, f"counts must be numbers; column {non_numeric[0]!r} is not numeric (wrong delimiter or a text column?)"
        )
    values = table.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise DataError(path, f"counts contain NaN/inf (first at sample {table.index[row]!r}, gene {table.columns[col]!r})")
    if (values < 0).any():
        row, col = np.argwhere(values < 0)[0]
        raise DataError(path, f"counts contain negative values (first at sample {table.index[row]!r}, gene {table.columns[col]!r})")
    if (np.mod(values, 1) != 0).any():
        row, col = np.argwhere(np.mod(values, 1) != 0)[0]
        raise DataError(
            path,
            f"counts must be raw integers, found {values[row, col]} at sample {table.index[row]!r}, "
            f"gene {table.columns[col]!r} (normalised or TPM values cannot be used by DESeq2)",
        )
    return values.astype(np.int64)


def read_counts_csv(
    counts_path: str | Path,
    metadata_path: str | Path,
    condition_key: str = "condition",
    check_levels: bool = True,
) -> ad.AnnData:
    """Read a counts CSV (rows = samples, first column ``sample``) and a metadata CSV.

    Parameters
    ----------
    counts_path
        Counts table, samples × genes, raw integer reads; ``.gz`` allowed.
    metadata_path
        Sample metadata; first column = sample IDs, must contain ``condition_key``.
    condition_key
        Metadata column holding the class label.
    check_levels
        Require two or more levels with enough samples each; ``False`` accepts any number
        (a single-condition source of real samples, see :mod:`genexai.data.source`).
    """
    counts_path, metadata_path = Path(counts_path), Path(metadata_path)
    counts = read_table(counts_path, "counts")
    metadata = read_table(metadata_path, "metadata")
    # Genes-as-rows is the commonest layout mistake: detect it from the sample IDs.
    if not set(counts.index) & set(metadata.index) and set(counts.columns) & set(metadata.index):
        raise DataError(
            counts_path,
            "counts look transposed (sample IDs are column names); expected one row per sample, first column 'sample'",
        )
    for name, index, path in (("sample", counts.index, counts_path), ("gene", counts.columns, counts_path)):
        dup = index[index.duplicated()]
        if len(dup):
            raise DataError(path, f"duplicated {name} ID {dup[0]!r} ({len(dup)} duplicates)")
    dup = metadata.index[metadata.index.duplicated()]
    if len(dup):
        raise DataError(metadata_path, f"duplicated sample ID {dup[0]!r} in metadata")
    missing_meta = counts.index.difference(metadata.index)
    if len(missing_meta):
        raise DataError(
            metadata_path,
            f"{len(missing_meta)} samples in the counts have no metadata row (e.g. {missing_meta[0]!r})",
        )
    missing_counts = metadata.index.difference(counts.index)
    if len(missing_counts):
        raise DataError(
            counts_path,
            f"{len(missing_counts)} samples in the metadata have no counts row (e.g. {missing_counts[0]!r})",
        )
    x = _counts_matrix(counts, counts_path)
    adata = ad.AnnData(
        X=x,
        obs=metadata.loc[counts.index].copy(),
        var=pd.DataFrame(index=pd.Index(counts.columns, name="gene")),
    )
    adata.obs.index.name = "sample"
    adata.uns["source"] = {"counts": str(counts_path), "metadata": str(metadata_path)}
    validate_adata(adata, condition_key, source=counts_path, metadata_source=metadata_path, check_levels=check_levels)
    return adata


def read_h5ad(path: str | Path, condition_key: str = "condition", layer: str | None = None) -> ad.AnnData:
    """Read an ``.h5ad`` file; raw counts from ``X`` or from ``layers[layer]``."""
    path = _existing(path)
    try:
        adata = ad.read_h5ad(path)
    except Exception as err:  # h5py/anndata raise many types for a damaged file
        raise DataError(path, f"cannot read .h5ad file ({type(err).__name__}: {err})") from None
    if layer is not None:
        if layer not in adata.layers:
            raise DataError(path, f"layer {layer!r} not found; available layers: {sorted(adata.layers) or 'none'}")
        matrix = adata.layers[layer]
    else:
        matrix = adata.X
    matrix = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
    table = pd.DataFrame(matrix, index=adata.obs_names.astype(str), columns=adata.var_names.astype(str))
    try:
        x = _counts_matrix(table, path)
    except DataError as err:
        hint = f"; raw counts may be in a layer: set data.adata.layer to one of {sorted(adata.layers)}" if adata.layers else ""
        raise DataError(path, f"{err.problem}{hint}") from None
    for name, index in (("sample", table.index), ("gene", table.columns)):
        dup = index[index.duplicated()]
        if len(dup):
            raise DataError(path, f"duplicated {name} ID {dup[0]!r}")
    out = ad.AnnData(X=x, obs=adata.obs.copy(), var=adata.var.copy())
    out.obs_names, out.var_names = table.index, table.columns
    out.uns["source"] = {"h5ad": str(path), "layer": layer}
    validate_adata(out, condition_key, source=path)
    return out
