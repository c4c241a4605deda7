"""The one DE-hit rule: ``padj < alpha`` and ``|log2FoldChange| >= lfc_threshold``.

Every caller that calls a gene "DE" (evaluation metrics, DE-based gene selection, the
comparison with ML gene lists at the same FDR) uses :func:`de_hits`, so the rule, and
how untested genes are treated, cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["de_hits"]


def de_hits(de: pd.DataFrame, alpha: float = 0.05, lfc_threshold: float | None = 0.0) -> pd.Series:
    """DE hits: ``padj < alpha`` and ``|log2FoldChange| >= lfc_threshold``.

    Genes PyDESeq2 did not test (NaN padj, e.g. independent filtering or all-zero
    counts) are not hits, nor are genes with a NaN fold change while a fold-change
    condition applies. ``lfc_threshold=None`` drops the fold-change condition (and the
    need for a ``log2FoldChange`` column): ``padj < alpha`` alone.

    Returns
    -------
    pandas.Series
        Boolean, indexed like ``de``, named ``is_hit``.
    """
    padj = de["padj"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        hit = padj < alpha
        if lfc_threshold is not None:
            hit &= np.abs(de["log2FoldChange"].to_numpy(dtype=float)) >= lfc_threshold
    return pd.Series(hit & ~np.isnan(padj), index=de.index, name="is_hit")
