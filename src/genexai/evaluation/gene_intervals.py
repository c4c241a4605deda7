"""Confidence intervals of the comparison metrics: a bootstrap over genes.

The gene universe is resampled with replacement and each metric recomputed on the
resample, so the interval says how much a metric depends on which genes happened to be
scored: with 5 hits among 1,000 genes, an AUPRC rests on five ranks and its interval is
wide. Resampling is stratified by hit status (hits among hits, the rest among the rest),
so every resample has the original number of hits: AUPRC/AUROC stay defined and their
chance level stays put. Percentile intervals; the same seed gives the same intervals.

* **AUPRC, AUROC** — recomputed per resample (:mod:`genexai.evaluation.batched`, equal to
  scikit-learn's definitions), NaN scores ranked lowest as in ``ranking_metrics``.
* **Spearman** — over the genes with both values (as ``metrics.spearman``), resampled
  without strata.
* **Jaccard@k** — the top-k of the importance and of the reference ranking are recomputed
  *within each resample*, a gene drawn twice counting as two items (the importance's ties
  broken by table order, as ``metrics.top_k``; the reference's by gene ID with unranked
  genes left out, as ``metrics.reference_top_k``). Duplicated genes make this a rougher interval than for
  the rank metrics; across-fold variation (``data.cv.folds``, ``cv_comparison.csv``) is the
  other view of its uncertainty, over samples rather than genes.
* **Paired AUPRC difference** — :func:`paired_auprc_difference` draws one set of resampled
  genes for two rankings, so their correlation is kept and the interval of the
  difference is much narrower than the two intervals side by side would suggest.

Genes are treated as independent; co-regulated genes are not, so the intervals are, if
anything, too narrow. They do not cover sample-level variation (a new cohort).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from genexai.evaluation.batched import auroc_rows, average_precision_rows, jaccard_at_k_rows, spearman_rows
from genexai.evaluation.metrics import fill_lowest
from genexai.evaluation.uncertainty import bootstrap_indices, percentile_interval

__all__ = ["gene_intervals", "paired_auprc_difference"]


def _interval_columns(name: str, values: np.ndarray, level: float) -> dict[str, float]:
    low, high = percentile_interval(values, level)
    return {f"{name}_ci_low": low, f"{name}_ci_high": high}


def _labels_and_scores(scores: pd.Series, is_hit: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    y = is_hit.reindex(scores.index, fill_value=False).to_numpy(dtype=bool)
    return y, fill_lowest(scores).to_numpy()


def gene_intervals(
    scores: pd.Series,
    is_hit: pd.Series,
    ks: Sequence[int],
    reference_scores: pd.Series | None,
    correlates: Mapping[str, pd.Series],
    *,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Bootstrap-over-genes CIs of one ranking's comparison metrics (see the module docstring).

    Parameters
    ----------
    scores, is_hit, ks, reference_scores, correlates
        As :func:`genexai.evaluation.compare._score_row` scores them: importance per
        gene (the universe), hit labels, top-k lengths, the ranking Jaccard@k compares
        with (``None``: NaN) and the Spearman targets by name.
    n_boot, seed, level
        Resamples, seed and coverage.

    Returns
    -------
    dict
        ``auprc_ci_low/high``, ``auroc_ci_low/high``, ``jaccard@<k>_ci_low/high`` per k and
        ``spearman_<name>_ci_low/high`` per correlate; NaN where the metric is undefined.
    """
    y, s = _labels_and_scores(scores, is_hit)
    idx = bootstrap_indices(y, n_boot, seed)
    defined = 0 < y.sum() < len(y)
    nan_rows = np.full(n_boot, np.nan)
    y_boot, s_boot = y[idx], s[idx]
    row = {
        **_interval_columns("auprc", average_precision_rows(y_boot, s_boot) if defined else nan_rows, level),
        **_interval_columns("auroc", auroc_rows(y_boot, s_boot) if defined else nan_rows, level),
    }
    raw = scores.to_numpy(dtype=float)[idx]  # NaN importances rank last, as in top_k
    reference = None if reference_scores is None else reference_scores.reindex(scores.index).to_numpy(dtype=float)[idx]
    gene_id_rank = np.argsort(np.argsort(scores.index.astype(str).to_numpy(), kind="stable"), kind="stable")[idx]
    for k in ks:
        values = nan_rows if reference is None else jaccard_at_k_rows(raw, reference, k, gene_id_rank)
        row.update(_interval_columns(f"jaccard@{k}", values, level))
    for name, target in correlates.items():
        pair = pd.concat([scores.rename("x"), target.rename("y")], axis=1, join="inner").dropna()
        values = nan_rows
        if len(pair) >= 3:
            pair_idx = bootstrap_indices(np.zeros(len(pair)), n_boot, seed)
            values = spearman_rows(pair["x"].to_numpy()[pair_idx], pair["y"].to_numpy()[pair_idx])
        row.update(_interval_columns(f"spearman_{name}", values, level))
    return row


def paired_auprc_difference(
    scores_a: pd.Series,
    scores_b: pd.Series,
    is_hit: pd.Series,
    *,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """AUPRC of ranking a minus ranking b on their common genes, with a paired bootstrap CI.

    Both rankings are scored on the same resampled genes each time. An interval that
    excludes 0 is the evidence for "a beats b" (or b beats a); one that contains 0 means
    the two are not distinguishable on these genes.

    Returns
    -------
    dict
        ``auprc_diff, auprc_diff_ci_low, auprc_diff_ci_high`` (NaN without a hit, or
        when every common gene is one).
    """
    genes = scores_a.index.intersection(scores_b.index, sort=False)
    y, a = _labels_and_scores(scores_a.loc[genes], is_hit)
    b = fill_lowest(scores_b.loc[genes]).to_numpy()
    if not 0 < y.sum() < len(y):
        return {"auprc_diff": np.nan, "auprc_diff_ci_low": np.nan, "auprc_diff_ci_high": np.nan}
    point = average_precision_score(y, a) - average_precision_score(y, b)
    idx = bootstrap_indices(y, n_boot, seed)
    diffs = average_precision_rows(y[idx], a[idx]) - average_precision_rows(y[idx], b[idx])
    return {"auprc_diff": float(point), **_interval_columns("auprc_diff", diffs, level)}
