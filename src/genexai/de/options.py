"""The options of a DESeq2 analysis and its result columns: light, so every engine (PyDESeq2,
torch, R) and the cache can share them without importing each other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from genexai.de.inputs import prepare_inputs
from genexai.errors import ConfigError

__all__ = ["PIPELINES", "RESULT_COLUMNS", "DESeq2Options", "check_pipeline", "join_tables", "split_tables"]

RESULT_COLUMNS: tuple[str, ...] = ("baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj")
#: DESeq2 pipelines: PyDESeq2's steps, or R DESeq2's where they differ (:mod:`genexai.de.rfaithful`).
PIPELINES: tuple[str, ...] = ("pydeseq2", "r")


def check_pipeline(pipeline: str) -> str:
    """``pipeline`` if it is one of :data:`PIPELINES`, else a one-line ConfigError naming ``de.pipeline``."""
    if pipeline not in PIPELINES:
        raise ConfigError(f"de.pipeline must be one of {list(PIPELINES)}, got {pipeline!r}")
    return pipeline


@dataclass(frozen=True)
class DESeq2Options:
    """The options of one DESeq2 analysis that change its numbers (all enter the cache key).

    Options that do not (processes, progress messages) and the inference engine are
    arguments of :func:`fit_deseq2` / :func:`~genexai.de.cache.cached_deseq2` instead.

    Attributes
    ----------
    design : str
        Formula; covariates go before the tested variable, e.g. ``"~cell_line + condition"``.
    contrast : sequence of str, optional
        ``[variable, tested, reference]``; default: last design term, tested = the
        non-reference level (see :func:`~genexai.de.inputs.resolve_contrast`).
    ref_level : str, optional
        Reference level of the tested variable (class 0); default alphabetical first.
    alpha : float
        FDR level used by independent filtering.
    lfc_shrink : bool
        Replace log2FoldChange/lfcSE by apeGLM-shrunk values (p-values unchanged).
    cooks_filter, independent_filter, refit_cooks : bool
        PyDESeq2 options, same defaults.
    continuous : sequence of str
        Design variables to fit as numeric slopes; all others are categorical.
    pipeline : str
        ``r`` (default): R DESeq2's own gene-wise and MAP dispersion optimiser, trend,
        prior, GLM fit, Wald errors and independent filtering (:mod:`genexai.de.rfaithful`),
        on the same inference engine; ``pydeseq2``: PyDESeq2's steps.
    """

    design: str = "~condition"
    contrast: Sequence[str] | None = None
    ref_level: str | None = None
    alpha: float = 0.05
    lfc_shrink: bool = False
    cooks_filter: bool = True
    independent_filter: bool = True
    refit_cooks: bool = True
    continuous: Sequence[str] = ()
    pipeline: str = "r"

    def __post_init__(self) -> None:
        check_pipeline(self.pipeline)

    def prepare(self, counts: pd.DataFrame, metadata: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        """:func:`~genexai.de.inputs.prepare_inputs` with these options."""
        return prepare_inputs(counts, metadata, self.design, self.contrast, self.ref_level, self.continuous)


def join_tables(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Tables of one gene index side by side, columns ``<key>__<column>``: one frame to cache or to return from R."""
    return pd.concat(
        [table.loc[:, list(RESULT_COLUMNS)].add_prefix(f"{key}__") for key, table in tables.items()], axis=1
    )


def split_tables(joined: pd.DataFrame, keys: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The inverse of :func:`join_tables` for ``keys`` (by exact column names, so any level name is safe)."""
    tables = {}
    for key in keys:
        table = joined.loc[:, [f"{key}__{column}" for column in RESULT_COLUMNS]].copy()
        table.columns = list(RESULT_COLUMNS)
        tables[key] = table
    return tables
