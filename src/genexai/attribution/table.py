"""From per-sample attributions (and global importances) to one tidy gene x method importance table."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from genexai.attribution.base import GLOBAL, GLOBAL_SIGNED, PER_SAMPLE
from genexai.errors import AttributionError
from genexai.utils.contrasts import CONTRAST, OMNIBUS
from genexai.utils.files import atomic_write


def importance_table(
    attributions: Mapping[str, Tensor | np.ndarray],
    labels: np.ndarray | Sequence,
    gene_names: Sequence[str],
    class_names: Sequence[str],
    inputs: Tensor | np.ndarray | None = None,
    directions: Mapping[str, str | None] | None = None,
    tested: int = 1,
) -> pd.DataFrame:
    """Aggregate attributions ``[n, G]`` per method into a long table, one row per (method, gene).

    Parameters
    ----------
    attributions
        Method name -> per-sample attributions, samples in the order of ``labels``.
    labels
        Class of each sample, as an index into ``class_names`` or as the class name.
    gene_names, class_names
        Column names of the attributions; class names in label-index order (reference first).
    inputs, directions
        The attributed (standardised) inputs and each method's
        :attr:`~genexai.attribution.base.AttributionMethod.direction`; with both, a
        ``direction`` column is added.
    tested
        The class the attributions explain against the reference class 0 (``K > 2``: one
        table per contrast); ``signed_diff`` is its mean minus the reference's.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, gene, importance, rank, mean_<class> (one per class), signed_diff``.
        ``importance`` is the mean ``|a|`` over samples; ``rank`` 1 is the most important gene
        of a method (ties broken by gene order, so the top-k set has exactly k genes);
        ``mean_<class>`` is the signed mean within a class; ``signed_diff`` is
        ``mean_<class_names[tested]> - mean_<class_names[0]>`` (positive: more evidence in the tested class).
        ``direction`` (NaN for unsigned methods) is positive when raising the gene's
        expression pushes toward class 1: ``mean(a · sign(x))`` for baseline methods,
        ``mean(a)`` for gradients. Unlike ``signed_diff`` it separates genes up and down
        in class 1 — for baseline methods both kinds give B samples positive scores.
    """
    class_names = list(class_names)
    if len(class_names) < 2:
        raise AttributionError(f"importance_table needs at least two classes, got {class_names}")
    codes = _label_codes(np.asarray(labels), class_names)
    frames = []
    for method, attr in attributions.items():
        a = attr.detach().cpu().numpy() if isinstance(attr, Tensor) else np.asarray(attr)
        if a.shape != (codes.shape[0], len(gene_names)):
            raise AttributionError(
                f"attributions of {method!r} have shape {a.shape}; expected ({codes.shape[0]} samples, "
                f"{len(gene_names)} genes) to match labels and gene_names"
            )
        if not np.isfinite(a).all():
            raise AttributionError(f"attributions of {method!r} contain NaN or inf; check the model and inputs")
        frame = pd.DataFrame({"method": method, "gene": list(gene_names), "importance": np.abs(a).mean(axis=0)})
        frame["rank"] = frame["importance"].rank(ascending=False, method="first").astype(int)
        for code, cls in enumerate(class_names):
            in_class = codes == code
            frame[f"mean_{cls}"] = a[in_class].mean(axis=0) if in_class.any() else np.nan
        frame["signed_diff"] = frame[f"mean_{class_names[tested]}"] - frame[f"mean_{class_names[0]}"]
        if inputs is not None and directions is not None:
            frame["direction"] = _direction(a, inputs, directions.get(method))
        frames.append(frame.sort_values("rank", kind="stable"))
    return pd.concat(frames, ignore_index=True)


def classical_importance_table(
    importances: Mapping[str, np.ndarray],
    labels: Any,
    gene_names: Sequence[str],
    class_names: Sequence[str],
    kinds: Mapping[str, str] | None = None,
    inputs: Any = None,
    directions: Mapping[str, str | None] | None = None,
    tested: int = 1,
) -> pd.DataFrame:
    """Tidy table of per-sample and global results, with the columns of :func:`importance_table`.

    Per-sample arrays ``[n, G]`` go through ``importance_table`` unchanged; ``direction``
    (> 0: raising the gene pushes toward class 1) is read from them given ``inputs``, by
    ``directions[method]`` — default ``"baseline"``, as TreeSHAP, coef·x and feature
    ablation are all measured from the training mean. A global array ``[G]`` gives
    ``importance`` = the value (``|value|`` for kind ``global_signed``), ``rank`` 1 =
    largest, ``mean_<class>`` NaN, and ``signed_diff`` and ``direction`` NaN (or the
    signed value for ``global_signed``, the coefficient). ``kinds`` defaults to
    ``per_sample`` for 2-D and ``global`` for 1-D arrays. No results: an empty table.
    """
    kinds, directions = dict(kinds or {}), dict(directions or {})
    class_names = [str(c) for c in class_names]
    labels = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels)
    columns = ["method", "gene", "importance", "rank", *[f"mean_{c}" for c in class_names], "signed_diff", "direction"]
    frames = []
    for method, values in importances.items():
        values = np.asarray(values)  # per-sample scores keep their precision (float32 from torch)
        kind = kinds.get(method) or (PER_SAMPLE if values.ndim == 2 else GLOBAL)
        if kind == PER_SAMPLE:
            direction = {method: directions.get(method, "baseline")}
            table = importance_table(
                {method: values}, labels, gene_names, class_names, inputs=inputs, directions=direction, tested=tested
            )
            frames.append(table.reindex(columns=columns))
            continue
        if values.shape != (len(gene_names),):
            raise AttributionError(f"global importance {method!r} has shape {values.shape}; expected ({len(gene_names)},)")
        values = values.astype(np.float64)
        frame = pd.DataFrame({"method": method, "gene": list(gene_names)})
        frame["importance"] = np.abs(values) if kind == GLOBAL_SIGNED else values
        frame["rank"] = frame["importance"].rank(ascending=False, method="first").astype(int)
        for cls in class_names:
            frame[f"mean_{cls}"] = np.nan
        frame["signed_diff"] = values if kind == GLOBAL_SIGNED else np.nan
        frame["direction"] = values if kind == GLOBAL_SIGNED else np.nan
        frames.append(frame.sort_values("rank", kind="stable"))
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def omnibus_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Each method's class-agnostic ranking from its per-contrast rows: a gene's largest importance over the contrasts.

    ``table`` holds one block per (method, contrast) (:data:`~genexai.utils.contrasts.CONTRAST`);
    the result has one row per (method, gene) with ``contrast`` =
    :data:`~genexai.utils.contrasts.OMNIBUS`, ``importance`` = the maximum, ``rank`` by it
    (ties by the first contrast's order), and the signed columns NaN: a gene that raises one
    class and lowers another has no single direction. It is scored against the omnibus DE
    test's hits, which likewise ask "does the gene differ between any of the levels?".
    """
    importance = table.groupby(["method", "gene"], sort=False)["importance"].max()
    frames = []
    for method in table["method"].drop_duplicates():
        genes = table.loc[table["method"] == method, "gene"].drop_duplicates()
        frame = pd.DataFrame({"method": method, "gene": genes.to_numpy()})
        frame["importance"] = importance.loc[method].reindex(genes).to_numpy()
        frame["rank"] = frame["importance"].rank(ascending=False, method="first").astype(int)
        frames.append(frame.sort_values("rank", kind="stable"))
    out = pd.concat(frames, ignore_index=True).reindex(columns=table.columns)
    out[CONTRAST] = OMNIBUS
    return out.astype(table.dtypes.to_dict())  # the NaN columns keep the attributions' float32


def _direction(a: np.ndarray, inputs: Tensor | np.ndarray, mode: str | None) -> np.ndarray:
    x = inputs.detach().cpu().numpy() if isinstance(inputs, Tensor) else np.asarray(inputs)
    if mode == "baseline":
        return (a * np.sign(x)).mean(axis=0)
    if mode == "gradient":
        return a.mean(axis=0)
    return np.full(a.shape[1], np.nan)


def _label_codes(labels: np.ndarray, class_names: list[str]) -> np.ndarray:
    if labels.dtype.kind in "iu":
        codes = labels.astype(int)
        if codes.size and (codes.min() < 0 or codes.max() >= len(class_names)):
            raise AttributionError(f"labels contain class indices outside 0..{len(class_names) - 1} ({class_names})")
        return codes
    lookup = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({str(v) for v in labels} - lookup.keys())
    if unknown:
        raise AttributionError(f"labels {unknown} are not among class_names {class_names}")
    return np.array([lookup[str(v)] for v in labels], dtype=int)


def save_importance_table(df: pd.DataFrame, run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``importance.csv`` and ``importance.parquet`` into ``run_dir`` atomically; return both paths."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    csv = atomic_write(run_dir / "importance.csv", lambda p: df.to_csv(p, index=False))
    parquet = atomic_write(run_dir / "importance.parquet", lambda p: df.to_parquet(p, index=False))
    return csv, parquet
