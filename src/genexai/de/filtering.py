"""DESeq2's independent filtering (``results()``'s ``pvalueAdjustment``): one implementation, PyDESeq2's or R's lowess.

BH over the genes whose mean normalised count reaches each of 50 quantile cut-offs, then
the first cut-off whose number of rejections at ``alpha`` exceeds the lowess fit's maximum
minus its residual RMS (the lowest cut-off when at most 10 genes are rejected anywhere).
PyDESeq2's ``DeseqStats`` applies this rule with its own lowess; R's lowess
(:func:`~genexai.de.rfaithful.lowess.r_lowess`) picks R's threshold (``de.pipeline=r``).
"""

from __future__ import annotations

import numpy as np
from pydeseq2.utils import lowess as pydeseq2_lowess
from scipy.stats import false_discovery_control

from genexai.de.rfaithful.lowess import r_lowess

__all__ = ["filter_threshold_index", "independent_filtering"]


def filter_threshold_index(num_rej: np.ndarray, theta: np.ndarray, *, r_rule: bool = True) -> int:
    """Which of the filter quantiles ``theta`` R's rule picks from the rejections ``num_rej`` at each."""
    if num_rej.max() <= 10:
        return 0
    num_rej = num_rej.astype(np.float64)
    fitted = r_lowess(theta, num_rej, f=1 / 5) if r_rule else pydeseq2_lowess(theta, num_rej, frac=1 / 5)
    residual = num_rej[num_rej > 0] - fitted[num_rej > 0]
    above = np.flatnonzero(num_rej > fitted.max() - np.sqrt(np.mean(residual**2)))
    return int(above[0]) if len(above) else 0


def independent_filtering(
    pvalue: np.ndarray, base_mean: np.ndarray, alpha: float, *, r_rule: bool
) -> tuple[np.ndarray, float]:
    """Adjusted p-values after filtering on ``base_mean`` and the chosen ``baseMean`` threshold.

    ``r_rule``: R's lowess (``de.pipeline=r``), else PyDESeq2's.
    """
    pvalue, base_mean = np.asarray(pvalue, dtype=np.float64), np.asarray(base_mean, dtype=np.float64)
    lower = float(np.mean(base_mean == 0))
    theta = np.linspace(lower, 0.95 if lower < 0.95 else 1.0, 50)
    cutoffs = np.quantile(base_mean, theta)
    adjusted = np.full((len(theta), len(pvalue)), np.nan)
    for i, cutoff in enumerate(cutoffs):
        use = (base_mean >= cutoff) & ~np.isnan(pvalue)
        if use.any():
            adjusted[i, use] = false_discovery_control(pvalue[use], method="bh")
    j = filter_threshold_index((adjusted < alpha).sum(axis=1), theta, r_rule=r_rule)
    return adjusted[j], float(cutoffs[j])
