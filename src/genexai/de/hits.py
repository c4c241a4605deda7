"""The one DE-hit rule: ``padj < alpha`` and ``|log2FoldChange| >= lfc_threshold`` (untested genes are not hits)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["de_hits"]


def de_hits(de: pd.DataFrame, alpha: float = 0.05, lfc_threshold: float = 0.0) -> pd.Series:
    """DE hits: ``padj < alpha`` and ``|log2FoldChange| >= lfc_threshold``.

    Genes DESeq2 did not test (NaN padj, e.g. independent filtering or all-zero
    counts) are not hits. Every caller (evaluation, gene selection, significance
    calls, the replicate-subsample truth) uses this rule.
    """
    padj = de["padj"].to_numpy(dtype=float)
    lfc = de["log2FoldChange"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        hit = (padj < alpha) & (np.abs(lfc) >= lfc_threshold)
    return pd.Series(hit & ~np.isnan(padj), index=de.index, name="is_hit")
