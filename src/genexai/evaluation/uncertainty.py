"""Confidence intervals of test metrics, and the resampling machinery the comparison metrics share.

A test AUROC of 1.0 on 12 samples (TCGA's default split) and one on 200 are different
claims; the interval says how different. The intervals are chosen to stay honest on
small test sets near perfect scores, where a percentile bootstrap collapses onto the
estimate (at AUROC 1 every resample scores 1; on 6 + 6 binormal samples with true AUROC
0.96 its nominal 95% interval covered the truth in 50% of 400 simulated test sets, the
score interval below in 97%):

* **accuracy** — Wilson score interval of the binomial proportion correct
  (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``);
* **AUROC, two classes** — score-type interval from the Hanley & McNeil (1982) variance of
  the Mann–Whitney AUROC: the θ in [0, 1] with ``(AUROC − θ)² ≤ z² V(θ)``, ``V(θ) = θ(1−θ)
  [1 + (n₁−1)(1−θ)/(2−θ) + (n₀−1)θ/(1+θ)] / (n₁n₀)``; it respects [0, 1] and is not
  degenerate at 1 (Newcombe, Stat Med 25:559, 2006, compares such intervals);
* **AUROC, more classes** (one-vs-rest macro) — a stratified percentile bootstrap over the
  test samples, :func:`bootstrap_ci`: each class resampled with replacement within itself,
  so every resample keeps the class counts the stratified split fixed; seeded.

Under :data:`MIN_RELIABLE_SAMPLES` test samples the estimate is flagged unreliable
(:func:`small_test_warning`), whatever its interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq
from scipy.stats import binomtest, norm

from genexai.evaluation.batched import auroc_rows

__all__ = [
    "MIN_RELIABLE_SAMPLES",
    "bootstrap_indices",
    "percentile_interval",
    "bootstrap_ci",
    "accuracy_interval",
    "auroc_interval",
    "small_test_warning",
    "classification_intervals",
]

log = logging.getLogger(__name__)

#: Below this many test samples, AUROC/accuracy are flagged unreliable in the log and the report.
MIN_RELIABLE_SAMPLES = 20

#: ``metric(y_true[idx], y_score[idx]) -> values``: all resamples at once, one row each (see
#: :mod:`genexai.evaluation.batched`).
RowMetric = Callable[[np.ndarray, np.ndarray], np.ndarray]


def bootstrap_indices(strata: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n)`` indices resampling each stratum with replacement within itself.

    Rows are sorted, so the items of a resample keep their original order; order-invariant
    metrics do not notice, and ties in a ranking are broken as in the original (by position).
    """
    strata = np.asarray(strata)
    rng = np.random.default_rng(seed)
    parts = []
    for value in np.unique(strata):  # sorted: the same draws for the same data and seed
        members = np.flatnonzero(strata == value)
        parts.append(members[rng.integers(0, len(members), size=(n_boot, len(members)))])
    return np.sort(np.concatenate(parts, axis=1), axis=1)


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the finite resampled values; ``(nan, nan)`` when none is finite."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def bootstrap_ci(
    y_true: np.ndarray,
    y_score: np.ndarray,
    metric: RowMetric,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    *,
    stratify: bool = True,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(y_true, y_score)`` over samples.

    Parameters
    ----------
    y_true : array ``(n,)``
        Labels (class indices or bool).
    y_score : array ``(n,)`` or ``(n, C)``
        Whatever the metric scores: predicted labels, a score, class probabilities.
    metric : callable
        Vectorised metric, e.g. :func:`~genexai.evaluation.batched.auroc_rows`: it gets
        ``(n_boot, n)`` labels and ``(n_boot, n[, C])`` scores and returns ``n_boot`` values.
    n_boot, seed, level
        Resamples, random seed (same seed and data ⇒ same interval) and coverage.
    stratify : bool
        Resample within each label (default), keeping the class counts; otherwise over
        all samples, and resamples with a single class give NaN and are dropped.

    Returns
    -------
    (low, high)
        NaN when ``y_true`` holds no sample or the metric is undefined on every resample.
    """
    y_true = np.asarray(y_true)
    if not len(y_true) or n_boot < 1:
        return float("nan"), float("nan")
    idx = bootstrap_indices(y_true if stratify else np.zeros(len(y_true)), n_boot, seed)
    return percentile_interval(metric(y_true[idx], np.asarray(y_score)[idx]), level)


def accuracy_interval(y_true: np.ndarray, y_pred: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the accuracy (NaN without samples)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if not len(y_true):
        return float("nan"), float("nan")
    interval = binomtest(int(np.sum(y_true == y_pred)), len(y_true)).proportion_ci(level, method="wilson")
    return float(interval.low), float(interval.high)


def _hanley_mcneil_variance(theta: float, n_pos: int, n_neg: int) -> float:
    return (
        theta * (1 - theta) * (1 + (n_pos - 1) * (1 - theta) / (2 - theta) + (n_neg - 1) * theta / (1 + theta))
    ) / (n_pos * n_neg)


def auroc_interval(y_true: np.ndarray, score: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Score-type interval of a two-class AUROC from the Hanley–McNeil variance (see the module docstring).

    ``y_true`` bool/0-1, ``score`` the positive class's score; NaN without both classes.
    """
    y = np.asarray(y_true).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return float("nan"), float("nan")
    auroc = float(auroc_rows(y[None], np.asarray(score, dtype=float)[None])[0])
    z2 = norm.ppf((1 + level) / 2) ** 2

    def excess(theta: float) -> float:  # > 0 outside the interval, < 0 inside
        return (auroc - theta) ** 2 - z2 * _hanley_mcneil_variance(theta, n_pos, n_neg)

    edge = 1e-12  # V(0) = V(1) = 0: bracket just inside [0, 1] when the estimate sits on a bound
    low = 0.0 if auroc <= 0 else brentq(excess, 0.0, min(auroc, 1 - edge))
    high = 1.0 if auroc >= 1 else brentq(excess, max(auroc, edge), 1.0)
    return float(low), float(high)


def small_test_warning(n_samples: int) -> str | None:
    """The warning for a test set too small to trust (None from :data:`MIN_RELIABLE_SAMPLES` samples on)."""
    if n_samples >= MIN_RELIABLE_SAMPLES:
        return None
    return (
        f"test set has {n_samples} samples (< {MIN_RELIABLE_SAMPLES}): AUROC/accuracy estimates are unreliable; "
        "see the CI"
    )


def classification_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    y_score: np.ndarray,
    *,
    prefix: str = "test",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """CIs of accuracy and AUROC on one split (see the module docstring), logging a warning for a small split.

    ``y_score`` is a positive-class score ``(n,)`` or class probabilities ``(n, C)``,
    scored as the classifiers score AUROC (class 1's column for two classes, one-vs-rest
    macro otherwise); ``n_boot`` and ``seed`` drive the bootstrap of the latter.

    Returns
    -------
    dict
        ``<prefix>/n_samples``, ``<prefix>/ci_level``, ``<prefix>/acc_ci_low``, ``/acc_ci_high``,
        ``/auroc_ci_low``, ``/auroc_ci_high`` (NaN when the split holds one class).
    """
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=float)
    warning = small_test_warning(len(y_true))
    if warning is not None:
        log.warning(warning)
    if y_score.ndim == 1 or y_score.shape[1] == 2:
        auroc = auroc_interval(y_true == 1, y_score if y_score.ndim == 1 else y_score[:, 1], level)
    else:
        auroc = bootstrap_ci(y_true, y_score, auroc_rows, n_boot, seed, level)
    acc = accuracy_interval(y_true, y_pred, level)
    return {
        f"{prefix}/n_samples": int(len(y_true)),
        f"{prefix}/ci_level": float(level),
        f"{prefix}/acc_ci_low": acc[0],
        f"{prefix}/acc_ci_high": acc[1],
        f"{prefix}/auroc_ci_low": auroc[0],
        f"{prefix}/auroc_ci_high": auroc[1],
    }
