"""Rank-based DE baseline: Wilcoxon rank-sum test on size-factor-normalised counts, BH FDR.

Li et al. (Genome Biology 23:79, 2022) found that DESeq2 and edgeR exceed their nominal
FDR on population-scale cohorts (dozens to hundreds of unrelated individuals per group),
where the negative-binomial model is violated by outliers, while the Wilcoxon rank-sum
test keeps it. This module gives that test the same output table as the PyDESeq2
wrapper, so the comparison harness (:func:`genexai.evaluation.compare_methods`) takes
either baseline unchanged.

Per gene j, on the samples given (the training split):

* normalised counts ``x_ij / s_i`` with DESeq2 median-of-ratios size factors ``s_i``
  (:func:`genexai.data.preprocess.size_factors`, computed on these samples);
* ``pvalue``: two-sided Mann–Whitney U / Wilcoxon rank-sum test, tested vs reference
  level (``scipy.stats.mannwhitneyu``, vectorised over genes; ``method="auto"``:
  exact when a group has <= 8 samples and there are no ties, else the normal
  approximation with tie correction);
* ``padj``: Benjamini–Hochberg (``scipy.stats.false_discovery_control``) over the genes
  tested; no independent filtering;
* ``stat``: the signed normal score of the p-value, ``sign(U − n_A·n_B/2) · Φ⁻¹(1 − p/2)``
  (> 0: higher in the tested level); monotone in p, like DESeq2's Wald statistic;
* ``log2FoldChange``: ``log2((mean_B + c) / (mean_A + c))`` of the normalised means with
  pseudocount ``c`` (default 1 normalised count), so genes with zero counts in one
  group get a finite fold change; it is an effect size for display and for the
  ``|log2FC| >= t`` hit rule, not a model estimate;
* ``baseMean``: mean normalised count over all samples (as DESeq2); ``lfcSE``: NaN.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, kruskal, mannwhitneyu, norm

from genexai.data.preprocess import median_of_ratios_log_geomeans, size_factors
from genexai.de.options import RESULT_COLUMNS
from genexai.de.inputs import (
    OMNIBUS, align_metadata, contrast_levels, design_variables, resolve_contrast, validate_counts,
)  # fmt: skip
from genexai.errors import ConfigError

__all__ = ["run_wilcoxon", "run_wilcoxon_contrasts"]

log = logging.getLogger(__name__)


def run_wilcoxon(
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    design: str = "~condition",
    contrast: Sequence[str] | None = None,
    ref_level: str | None = None,
    pseudocount: float = 1.0,
    method: str = "auto",
) -> pd.DataFrame:
    """Wilcoxon rank-sum DE test per gene, in the layout of :func:`~genexai.de.deseq2.run_deseq2`.

    Parameters
    ----------
    counts, metadata : pandas.DataFrame
        Raw integer counts of the training samples (samples x genes) and their sample
        metadata, as in :func:`~genexai.de.deseq2.fit_deseq2`.
    design : str
        Only its last term is used (the tested variable, as in DESeq2); other
        covariates cannot enter a rank-sum test and are ignored with a warning.
    contrast, ref_level
        As in :func:`~genexai.de.inputs.resolve_contrast`.
    pseudocount : float
        Added to both groups' mean normalised count in ``log2FoldChange``.
    method : str
        ``scipy.stats.mannwhitneyu`` p-value method: ``auto``, ``asymptotic`` or ``exact``.

    Returns
    -------
    pandas.DataFrame
        Indexed by gene (name ``"gene"``), columns ``baseMean, log2FoldChange, lfcSE,
        stat, pvalue, padj`` (see the module docstring).
    """
    validate_counts(counts)
    meta = align_metadata(counts, metadata)
    variable, tested, ref = resolve_contrast(meta, design, contrast, ref_level)
    labels, normalised = _normalised(counts, meta, design, variable, pseudocount)
    return _rank_sum_table(normalised, labels == tested, labels == ref, counts.columns, pseudocount, method)


def run_wilcoxon_contrasts(
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    design: str = "~condition",
    ref_level: str | None = None,
    pseudocount: float = 1.0,
    method: str = "auto",
) -> dict[str, pd.DataFrame]:
    """Rank-sum test of every level against ``ref_level``, and Kruskal–Wallis across all levels.

    Each contrast compares the samples of one level with those of the reference only
    (size factors and ``baseMean`` from all samples given), in the layout of
    :func:`run_wilcoxon`, which it equals with two levels. The ``"omnibus"`` table is the
    Kruskal–Wallis H test of all levels (``scipy.stats.kruskal``, tie-corrected, chi-square
    with K − 1 degrees of freedom): ``stat`` = H, BH ``padj``, NaN ``log2FoldChange`` and
    ``lfcSE``, NaN statistics for genes with one value across all samples (all zero).
    Levels: :func:`~genexai.de.inputs.contrast_levels`.
    """
    validate_counts(counts)
    meta = align_metadata(counts, metadata)
    variable, ref, levels = contrast_levels(meta, design, ref_level)
    labels, normalised = _normalised(counts, meta, design, variable, pseudocount)
    tables = {
        level: _rank_sum_table(normalised, labels == level, labels == ref, counts.columns, pseudocount, method)
        for level in levels
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        result = kruskal(*(normalised[labels == level] for level in [ref, *levels]), axis=0)
    pvalue = np.asarray(result.pvalue, dtype=np.float64)
    tables[OMNIBUS] = pd.DataFrame(
        {"baseMean": normalised.mean(axis=0), "log2FoldChange": np.nan, "lfcSE": np.nan,
         "stat": np.asarray(result.statistic, dtype=np.float64), "pvalue": pvalue, "padj": _bh(pvalue)},
        index=pd.Index(counts.columns, name="gene"),
    ).loc[:, list(RESULT_COLUMNS)]  # fmt: skip
    return tables


def _normalised(
    counts: pd.DataFrame, meta: pd.DataFrame, design: str, variable: str, pseudocount: float
) -> tuple[np.ndarray, np.ndarray]:
    """The tested variable's labels and the size-factor-normalised counts of all samples (checks first)."""
    covariates = [v for v in design_variables(design)[0] if v != variable]
    if covariates:
        log.warning("Wilcoxon rank-sum test ignores the design covariates %s; only %r is tested.", covariates, variable)
    if pseudocount <= 0:
        raise ConfigError(f"de.pseudocount must be > 0 (got {pseudocount}); it keeps log2 fold changes finite")
    labels = meta[variable].astype(str).to_numpy()
    values = counts.to_numpy(dtype=np.float64)
    return labels, values / size_factors(values, median_of_ratios_log_geomeans(values))[:, None]


def _bh(pvalue: np.ndarray) -> np.ndarray:
    """BH over the genes with a p-value (NaN elsewhere)."""
    padj = np.full_like(pvalue, np.nan)
    tested_genes = np.isfinite(pvalue)
    if tested_genes.any():
        padj[tested_genes] = false_discovery_control(pvalue[tested_genes], method="bh")
    return padj


def _rank_sum_table(
    normalised: np.ndarray, in_tested: np.ndarray, in_ref: np.ndarray, genes: pd.Index, pseudocount: float, method: str
) -> pd.DataFrame:
    """The rank-sum test of the ``in_tested`` samples against the ``in_ref`` ones (module docstring)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        result = mannwhitneyu(normalised[in_tested], normalised[in_ref], alternative="two-sided", axis=0, method=method)
    pvalue = np.asarray(result.pvalue, dtype=np.float64)
    centred = np.asarray(result.statistic, dtype=np.float64) - in_tested.sum() * in_ref.sum() / 2.0
    stat = np.sign(centred) * norm.isf(pvalue / 2.0)
    mean_tested = normalised[in_tested].mean(axis=0)
    mean_ref = normalised[in_ref].mean(axis=0)
    table = pd.DataFrame(
        {
            "baseMean": normalised.mean(axis=0),
            "log2FoldChange": np.log2((mean_tested + pseudocount) / (mean_ref + pseudocount)),
            "lfcSE": np.nan,
            "stat": stat,
            "pvalue": pvalue,
            "padj": _bh(pvalue),
        },
        index=pd.Index(genes, name="gene"),
    )
    return table.loc[:, list(RESULT_COLUMNS)]
