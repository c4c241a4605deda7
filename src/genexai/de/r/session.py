"""The embedded R session (rpy2): availability checks, data in, result columns out.

R's own engines (edgeR, limma-voom, DESeq2) are the references every reviewer trusts,
so genexai runs the original packages rather than re-implementations. R and rpy2 are
optional (``make install-r``): every entry point that needs them calls
:func:`require_r` first, which stops with one line naming the install command instead
of an ImportError deep inside a fit.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from genexai.errors import ConfigError

__all__ = ["INSTALL_HINT", "call_r", "r_versions", "require_r"]

#: What to run when R or a package is missing (Makefile target; Debian packages; pip extra).
INSTALL_HINT = (
    "run `make install-r` (apt-get install -y r-base-core r-base-dev r-bioc-edger r-bioc-limma "
    "r-bioc-deseq2, then pip install 'genexai[r]' from requirements-r.lock)"
)


@functools.cache
def _robjects() -> Any:
    """rpy2's ``robjects`` with R started, or a ConfigError naming the install command.

    Starting R makes rpy2 put R's library directories (``/usr/lib/x86_64-linux-gnu`` among
    them) into this process's ``LD_LIBRARY_PATH``; every later subprocess (a notebook
    kernel, a DDP worker, a Hydra launcher job) would then load the system's libpython
    instead of its own interpreter's and fail on import. R is in memory by then, so the
    variable is put back as it was.
    """
    saved = os.environ.get("LD_LIBRARY_PATH")
    try:
        import rpy2.robjects as robjects
    except Exception as err:  # ImportError, or rpy2's own error when libR is absent
        raise ConfigError(f"this DE engine runs R through rpy2, which is unavailable ({type(err).__name__}); {INSTALL_HINT}") from None
    finally:
        if saved is None:
            os.environ.pop("LD_LIBRARY_PATH", None)
        else:
            os.environ["LD_LIBRARY_PATH"] = saved
    return robjects


@functools.cache
def _installed(package: str) -> str | None:
    robjects = _robjects()
    found = robjects.r(f'if (requireNamespace("{package}", quietly = TRUE)) as.character(packageVersion("{package}")) else NA_character_')
    version = found[0]
    return None if version is robjects.NA_Character or str(version) == "NA" else str(version)


def require_r(packages: Sequence[str], *, method: str) -> None:
    """Raise a one-line ConfigError unless rpy2, R and every R ``package`` are installed."""
    missing = [package for package in packages if _installed(package) is None]
    if missing:
        raise ConfigError(f"{method} needs the R package(s) {missing}, which are not installed; {INSTALL_HINT}")


def r_versions(packages: Sequence[str]) -> dict[str, str]:
    """R's version and each package's (part of a cache key: a new release may change numbers)."""
    robjects = _robjects()
    versions = {"R": str(robjects.r("paste(R.version$major, R.version$minor, sep = '.')")[0])}
    for package in packages:
        versions[package] = str(_installed(package))
    return versions


def _r_counts(counts: pd.DataFrame) -> Any:
    """Genes x samples integer matrix with dimnames (R's orientation), copied in one block."""
    robjects = _robjects()
    values = counts.to_numpy()
    if values.max(initial=0) > np.iinfo(np.int32).max:
        raise ConfigError("a count exceeds R's integer range (2^31 - 1); R's DE engines cannot take it")
    # R is column-major: the samples x genes rows, read in C order, are the genes x samples columns.
    return robjects.r.matrix(
        robjects.IntVector(np.ascontiguousarray(values, dtype=np.int32).ravel()),
        nrow=counts.shape[1], ncol=counts.shape[0],
        dimnames=robjects.r.list(robjects.StrVector(counts.columns.astype(str)), robjects.StrVector(counts.index.astype(str))),
    )  # fmt: skip


def _r_coldata(meta: pd.DataFrame) -> Any:
    """A data.frame of the design columns: categoricals become factors with the same level order."""
    robjects = _robjects()
    columns = {}
    for name, column in meta.items():
        if isinstance(column.dtype, pd.CategoricalDtype):
            levels = robjects.StrVector([str(level) for level in column.cat.categories])
            columns[name] = robjects.r.factor(robjects.StrVector(column.astype(str).tolist()), levels=levels)
        else:
            columns[name] = robjects.FloatVector(column.to_numpy(dtype=float))
    frame = robjects.DataFrame(columns)
    frame.rownames = robjects.StrVector(meta.index.astype(str))
    return frame


def call_r(source: str, counts: pd.DataFrame, meta: pd.DataFrame, **arguments: Any) -> pd.DataFrame:
    """Evaluate the R function ``source`` on ``(counts, coldata, ...)``; return its list as columns.

    ``counts`` is samples x genes (as everywhere in genexai), ``meta`` the prepared design
    columns of the same samples; keyword ``arguments`` are scalars or string lists. The R
    function returns a named list of equal-length numeric vectors, one per gene, in the
    order of ``counts.columns``; NA becomes NaN.
    """
    from rpy2.rinterface_lib.embedded import RRuntimeError

    function = _compiled(source)
    r_arguments = {name: _r_value(value) for name, value in arguments.items()}
    try:
        result = function(_r_counts(counts), _r_coldata(meta), **r_arguments)
    except RRuntimeError as err:  # R's own message (e.g. a design that is not full rank), on one line
        message = " ".join(str(err).split())
        raise ConfigError(f"R stopped the DE fit on {counts.shape[0]} samples x {counts.shape[1]} genes: {message}") from None
    # R's NA_real_ is a NaN with a payload; store the canonical NaN, as every other engine does.
    columns = {str(name): _canonical_nan(np.asarray(result.rx2(str(name)), dtype=float)) for name in result.names}
    return pd.DataFrame(columns, index=pd.Index(counts.columns, name="gene"))


def _canonical_nan(values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), np.nan, values)


@functools.cache
def _compiled(source: str) -> Any:
    return _robjects().r(source)


def _r_value(value: Any) -> Any:
    robjects = _robjects()
    if isinstance(value, bool):
        return robjects.BoolVector([value])
    if isinstance(value, (int, float)):
        return robjects.FloatVector([float(value)])
    if isinstance(value, str):
        return robjects.StrVector([value])
    return robjects.StrVector([str(item) for item in value])
