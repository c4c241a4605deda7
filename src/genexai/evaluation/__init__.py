"""Compare attribution rankings with DESeq2 (and simulated truth); plots and report.

``plots`` (matplotlib) is imported on demand: ``from genexai.evaluation import plots``.
"""

from genexai.evaluation.compare import (
    best_methods,
    compare_methods,
    comparison_summary,
    summary_sentences,
)
from genexai.evaluation.metrics import (
    de_hits,
    expected_jaccard,
    jaccard_stability,
    overlap_pvalue,
    ranking_metrics,
    sign_agreement,
    spearman,
    topk_metrics,
)
from genexai.evaluation.report import write_report

__all__ = [
    "best_methods",
    "compare_methods",
    "comparison_summary",
    "de_hits",
    "expected_jaccard",
    "jaccard_stability",
    "overlap_pvalue",
    "ranking_metrics",
    "sign_agreement",
    "spearman",
    "summary_sentences",
    "topk_metrics",
    "write_report",
]
