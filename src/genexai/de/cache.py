"""On-disk cache of DE results (DESeq2, and R's edgeR / limma-voom), keyed by the content of every input.

A DESeq2 fit takes seconds to minutes and is repeated for every model, seed and
attribution method trained on the same split, so results are stored as parquet
files named by a sha256 of the counts, the metadata columns the design reads, the
resolved contrast, every option that changes the numbers and the PyDESeq2
version. Options that do not change the numbers (``n_cpus``, ``quiet``) are not
part of the key. The inference engine is: ``torch`` agrees with PyDESeq2's default
to < 2% but not bit for bit, so its entries are kept apart (the key of the default
engine is unchanged, so existing entries stay valid). The torch engine's device is
not: CPU and GPU run the same float64 algorithm. R engines key on R's and their
packages' versions instead (:func:`cached_fit` is the method-agnostic part).

Writes go through :func:`genexai.utils.files.atomic_write` (temporary file + rename),
so concurrent jobs never see a half-written entry (the last writer wins; all writers
wrote the same table). Each entry carries its key and a checksum of its values in
the parquet metadata; an unreadable or inconsistent entry is logged and recomputed
instead of being trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pydeseq2

from genexai.de.deseq2 import fit_deseq2_contrasts, run_deseq2
from genexai.de.inputs import OMNIBUS, align_metadata, contrast_levels
from genexai.de.options import RESULT_COLUMNS, DESeq2Options, join_tables, split_tables
from genexai.de.engines import check_engine
from genexai.de.torch import check_device_name
from genexai.utils.files import atomic_write

log = logging.getLogger(__name__)

CACHE_FORMAT = "genexai-deseq2-cache-v1"
_META_KEY = b"genexai_deseq2"


def _metadata_fingerprint(meta: pd.DataFrame) -> dict[str, dict[str, list]]:
    fingerprint = {}
    for col in sorted(meta.columns):
        values = meta[col]
        fingerprint[col] = {
            "values": values.astype(str).tolist(),
            "levels": [str(c) for c in values.cat.categories]
            if isinstance(values.dtype, pd.CategoricalDtype)
            else [str(values.dtype)],
        }
    return fingerprint


def cache_key(counts: pd.DataFrame, metadata: pd.DataFrame, *, inference: str = "default", **options: Any) -> str:
    """Return the sha256 hex digest identifying one DESeq2 analysis.

    The inputs are validated first (same errors as :func:`~genexai.de.deseq2.run_deseq2`),
    and the key is computed from the prepared design columns and the resolved contrast,
    so that ``ref_level=None`` and the equivalent explicit reference share one entry.
    ``inference`` is the engine name (``default`` or ``torch``); ``options`` are the
    fields of :class:`~genexai.de.deseq2.DESeq2Options`.
    """
    check_engine(inference)
    return _key(counts, metadata, DESeq2Options(**options), inference)


def _key(counts: pd.DataFrame, metadata: pd.DataFrame, opts: DESeq2Options, inference: str) -> str:
    return content_key(_key_options(counts, metadata, opts, inference), counts)


def _key_options(counts: pd.DataFrame, metadata: pd.DataFrame, opts: DESeq2Options, inference: str) -> dict[str, Any]:
    meta, resolved = opts.prepare(counts, metadata)
    options: dict[str, Any] = {
        "format": CACHE_FORMAT,
        "pydeseq2": pydeseq2.__version__,
        "design": opts.design,
        "contrast": resolved,
        "alpha": float(opts.alpha),
        "lfc_shrink": bool(opts.lfc_shrink),
        "cooks_filter": bool(opts.cooks_filter),
        "independent_filter": bool(opts.independent_filter),
        "refit_cooks": bool(opts.refit_cooks),
        "continuous": sorted(opts.continuous),
        "samples": counts.index.tolist(),
        "genes": counts.columns.tolist(),
        "metadata": _metadata_fingerprint(meta),
    }
    if inference != "default":
        options["inference"] = inference
    if opts.pipeline != "pydeseq2" and inference != "r":  # absent for PyDESeq2's steps: their entries keep their keys
        options["pipeline"] = opts.pipeline
    if inference == "r":
        from genexai.de.r.session import r_versions

        options["r"] = r_versions(["DESeq2"])
    return options


def content_key(options: dict[str, Any], counts: pd.DataFrame) -> str:
    """sha256 of the JSON of ``options`` and the raw counts: one analysis of one matrix."""
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(counts.to_numpy(dtype=np.int64)).tobytes())
    return digest.hexdigest()


def design_fingerprint(counts: pd.DataFrame, meta: pd.DataFrame) -> dict[str, Any]:
    """The samples, genes and prepared design columns of a fit (what every cache key holds)."""
    return {"samples": counts.index.tolist(), "genes": counts.columns.tolist(), "metadata": _metadata_fingerprint(meta)}


def _checksum(table: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(table, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _write_entry(path: Path, table: pd.DataFrame, key: str) -> None:
    arrow = pa.Table.from_pandas(table, preserve_index=True)
    info = json.dumps({"key": key, "checksum": _checksum(table), "shape": list(table.shape)})
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), _META_KEY: info})
    atomic_write(path, lambda tmp: pq.write_table(arrow, tmp))


def _read_entry(path: Path, key: str, genes: pd.Index, columns: list[str]) -> pd.DataFrame | None:
    """Return a verified cached table, or ``None`` when absent or not trustworthy."""
    if not path.exists():
        return None
    try:
        arrow = pq.read_table(path)
        info = json.loads(arrow.schema.metadata[_META_KEY])
        table = arrow.to_pandas()
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as err:
        log.warning("DE cache entry %s is unreadable (%s); recomputing.", path, err)
        return None
    consistent = (
        info.get("key") == key
        and list(table.columns) == columns
        and table.index.equals(genes)
        and info.get("checksum") == _checksum(table)
    )
    if not consistent:
        log.warning("DE cache entry %s does not match its inputs/checksum; recomputing.", path)
        return None
    return table


def cached_deseq2(
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    *,
    cache_dir: Path | str | None,
    n_cpus: int = 1,
    quiet: bool = True,
    inference: str = "default",
    device: str = "cpu",
    **options: Any,
) -> tuple[pd.DataFrame, bool]:
    """Run :func:`~genexai.de.deseq2.run_deseq2`, reusing an earlier identical fit.

    Parameters
    ----------
    cache_dir : path or None
        Directory of cache entries (created if needed); ``None`` disables caching.
    inference : {"default", "torch"}
        Inference engine (part of the key); ``device`` is the torch engine's device.
    n_cpus, quiet
        As in :func:`~genexai.de.deseq2.fit_deseq2` (not part of the key).
    **options
        The fields of :class:`~genexai.de.deseq2.DESeq2Options` (all part of the key).

    Returns
    -------
    table : pandas.DataFrame
        The DESeq2 results table.
    cache_hit : bool
        Whether the table came from the cache (no fit was run).
    """
    check_engine(inference)
    check_device_name(device)
    opts = DESeq2Options(**options)

    def fit() -> pd.DataFrame:
        return run_deseq2(counts, metadata, n_cpus=n_cpus, quiet=quiet, inference=inference, device=device, **options)

    key = None if cache_dir is None else _key(counts, metadata, opts, inference)
    return cached_fit(cache_dir, "deseq2", key, counts.columns, fit)


def cached_fit(
    cache_dir: Path | str | None,
    prefix: str,
    key: str | None,
    genes: pd.Index,
    fit: Callable[[], pd.DataFrame],
    columns: Sequence[str] = RESULT_COLUMNS,
) -> tuple[pd.DataFrame, bool]:
    """``fit()``'s table, read from ``<cache_dir>/<prefix>-<key>.parquet`` when a verified entry exists.

    ``cache_dir=None`` runs ``fit`` without caching; otherwise a miss runs it and writes the
    entry atomically. ``columns``: those an entry must have (a joined table of several tests
    has others). Returns ``(table, cache_hit)``.
    """
    if cache_dir is None or key is None:
        return fit(), False
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{prefix}-{key}.parquet"
    table = _read_entry(path, key, genes, list(columns))
    if table is not None:
        return table, True
    table = fit()
    _write_entry(path, table, key)
    return table, False


def cached_tables(
    cache_dir: Path | str | None,
    prefix: str,
    options: dict[str, Any],
    counts: pd.DataFrame,
    keys: Sequence[str],
    fit: Callable[[], dict[str, pd.DataFrame]],
) -> tuple[dict[str, pd.DataFrame], bool]:
    """:func:`cached_fit` for a dict of tables (one per ``keys``), stored joined as one entry.

    ``options`` (with :func:`content_key`) key the entry; ``"contrasts": keys`` is added, so an
    every-level entry never shares a key with a two-group one.
    """
    key = None if cache_dir is None else content_key({**options, "contrasts": list(keys)}, counts)
    columns = [f"{name}__{column}" for name in keys for column in RESULT_COLUMNS]
    joined, hit = cached_fit(cache_dir, prefix, key, counts.columns, lambda: join_tables(fit()), columns)
    return split_tables(joined, keys), hit


def cached_deseq2_contrasts(
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    *,
    cache_dir: Path | str | None,
    n_cpus: int = 1,
    quiet: bool = True,
    inference: str = "default",
    device: str = "cpu",
    **options: Any,
) -> tuple[dict[str, pd.DataFrame], bool]:
    """:func:`~genexai.de.deseq2.fit_deseq2_contrasts` through the cache; arguments as :func:`cached_deseq2`."""
    check_engine(inference)
    check_device_name(device)
    opts = DESeq2Options(**options)
    variable, ref, levels = contrast_levels(align_metadata(counts, metadata), opts.design, opts.ref_level)

    def fit() -> dict[str, pd.DataFrame]:
        return fit_deseq2_contrasts(
            counts, metadata, n_cpus=n_cpus, quiet=quiet, inference=inference, device=device, **options
        )

    key_options: dict[str, Any] = {}
    if cache_dir is not None:  # the two-group key's options (levels[0]: any valid contrast), then the levels
        first = DESeq2Options(**{**options, "contrast": [variable, levels[0], ref], "ref_level": None})
        key_options = {**_key_options(counts, metadata, first, inference), "contrast": [variable, ref]}
    return cached_tables(cache_dir, "deseq2", key_options, counts, [*levels, OMNIBUS], fit)
