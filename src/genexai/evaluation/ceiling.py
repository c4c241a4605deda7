"""The inter-tool ceiling: how well a second DE tool's ranking recovers the baseline's hits.

DESeq2, edgeR and limma disagree on real data (hit-set Jaccard 0.45-0.94 between DESeq2
and edgeR on the seven real sets), so "attribution AUPRC 0.8 against DESeq2 hits" means
little until one knows what edgeR's own ranking scores against the same hits, on the
same genes, with the same metrics: that is the agreement two gold standards reach, the
ceiling an ML ranking can be judged against. The second tool's ``-log10 p`` is scored
as if it were an attribution method (genes it did not test rank last), through
:func:`~genexai.evaluation.compare.compare_methods`, so every number has its chance
level and bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from genexai.evaluation.compare import compare_methods
from genexai.evaluation.metrics import fill_lowest, neg_log10_pvalue

__all__ = ["ceiling_rows"]


def ceiling_rows(
    de: pd.DataFrame, other: pd.DataFrame, other_name: str, genes: Sequence[str], *, de_name: str, **options: Any
) -> pd.DataFrame:
    """``other``'s p-value ranking of ``genes`` (the model's genes) scored against ``de``'s hits.

    ``options`` are :func:`~genexai.evaluation.compare.compare_methods`' (``alpha``,
    ``lfc_threshold``, ``ks``, ``n_bootstrap``, ``seed``, ``level``); the rows have
    ``method = other_name`` and ``reference = de_name``, the layout of ``comparison.csv``.
    """
    genes = pd.Index(genes).intersection(de.index, sort=False)
    table = other.reindex(genes)
    importance = pd.DataFrame({
        "method": other_name,
        "gene": genes,
        "importance": fill_lowest(neg_log10_pvalue(table["pvalue"])).to_numpy(),
        "signed_diff": table["log2FoldChange"].fillna(0.0).to_numpy(),
    })
    return compare_methods(importance, de.loc[genes], de_name=de_name, truth=None, **options)
