"""Statistical significance for attributions: FDR-controlled gene lists from ML models.

DESeq2 gives every gene a p-value and an FDR; an attribution gives only a ranking. With
``significance=permutation`` or ``significance=decoy`` every method's rows in the
importance table get a ``pvalue`` and a ``qvalue``, so the ML genes at ``q < α`` can be
set beside DESeq2's ``padj < α`` at the same nominal FDR (:func:`significance_calls`,
written by the evaluation as ``evaluation/significance.csv``).

* :mod:`~genexai.significance.permutation` — label-permutation null (B retrained models);
* :mod:`~genexai.significance.decoy` — decoy (shadow) genes, target–decoy FDR (one run);
* :mod:`~genexai.significance.fdr` — the formulas (p-values, BH, target–decoy);
* :mod:`~genexai.significance.refit` — retrain the observed model on another view of the data;
* :mod:`~genexai.significance.calls` — called genes vs DESeq2 and vs the truth.
"""

from genexai.significance.assess import (
    METHODS,
    assess_significance,
    check_significance_classes,
    check_significance_config,
    significance_method,
)
from genexai.significance.calls import (
    has_significance,
    significance_calls,
    significance_metrics,
)
from genexai.significance.decoy import decoy_run, decoy_significance
from genexai.significance.fdr import (
    bh_qvalues,
    decoy_pvalues,
    permutation_pvalues,
    target_decoy_fdr,
    target_decoy_qvalues,
)
from genexai.significance.permutation import permutation_null, permutation_significance
from genexai.significance.refit import Refitter, derive_seeds

__all__ = [
    "METHODS",
    "Refitter",
    "assess_significance",
    "bh_qvalues",
    "check_significance_classes",
    "check_significance_config",
    "decoy_pvalues",
    "decoy_run",
    "decoy_significance",
    "has_significance",
    "permutation_null",
    "permutation_pvalues",
    "permutation_significance",
    "derive_seeds",
    "significance_calls",
    "significance_method",
    "significance_metrics",
    "target_decoy_fdr",
    "target_decoy_qvalues",
]
