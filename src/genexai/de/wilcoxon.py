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
from scipy.stats import false_discovery_control, mannwhitneyu, norm

from genexai.data.preprocess import median_of_ratios_log_geomeans, size_factors
from genexai.de.options import RESULT_COLUMNS
from genexai.de.inputs import align_metadata, design_variables, resolve_contrast, validate_counts
from genexai.errors import ConfigError

__all__ = ["run_wilcoxon"]

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
    covariates = [v for v in design_variables(design)[0] if v != variable]
    if covariates:
        log.warning("Wilcoxon rank-sum test ignores the design covariates %s; only %r is tested.", covariates, variable)
    if pseudocount <= 0:
        raise ConfigError(f"de.pseudocount must be > 0 (got {pseudocount}); it keeps log2 fold changes finite")
    labels = meta[variable].astype(str).to_numpy()
    in_tested, in_ref = labels == tested, labels == ref
    values = counts.to_numpy(dtype=np.float64)
    normalised = values / size_factors(values, median_of_ratios_log_geomeans(values))[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        result = mannwhitneyu(normalised[in_tested], normalised[in_ref], alternative="two-sided", axis=0, method=method)
    pvalue = np.asarray(result.pvalue, dtype=np.float64)
    centred = np.asarray(result.statistic, dtype=np.float64) - in_tested.sum() * in_ref.sum() / 2.0
    stat = np.sign(centred) * norm.isf(pvalue / 2.0)
    padj = np.full_like(pvalue, np.nan)
    tested_genes = np.isfinite(pvalue)
    if tested_genes.any():
        padj[tested_genes] = false_discovery_control(pvalue[tested_genes], method="bh")
    mean_tested = normalised[in_tested].mean(axis=0)
    mean_ref = normalised[in_ref].mean(axis=0)
    table = pd.DataFrame(
        {
            "baseMean": normalised.mean(axis=0),
            "log2FoldChange": np.log2((mean_tested + pseudocount) / (mean_ref + pseudocount)),
            "lfcSE": np.nan,
            "stat": stat,
            "pvalue": pvalue,
            "padj": padj,
        },
        index=pd.Index(counts.columns, name="gene"),
    )
    return table.loc[:, list(RESULT_COLUMNS)]
