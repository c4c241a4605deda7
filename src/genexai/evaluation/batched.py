"""Metrics evaluated on many resamples at once: one row of a 2-D array per resample.

A bootstrap recomputes a metric hundreds of times; ``sklearn.metrics.roc_auc_score`` in a
Python loop costs about 2 ms a call (2 s for 1,000 resamples of a 40-sample test set), so
each metric here is the same definition written over whole arrays (used by the gene
bootstrap of the comparison metrics and the multiclass test AUROC). Every function takes
``y`` (labels) and ``s`` (scores) of shape ``(B, n)`` — B resamples of n items — and
returns B values, NaN where the metric is undefined for that row. Their agreement with
scikit-learn / scipy row by row is tested (``tests/evaluation/test_uncertainty.py``).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

__all__ = ["auroc_rows", "average_precision_rows", "spearman_rows", "jaccard_at_k_rows", "jaccard_from_counts"]


def _binary_auroc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Mann–Whitney form of the AUROC: with mid-ranks for ties it equals the trapezoidal ROC area."""
    y = np.asarray(y, dtype=bool)
    ranks = rankdata(s, axis=1)  # average ranks: a tie counts 1/2, as in roc_auc_score
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    u = np.where(y, ranks, 0.0).sum(axis=1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def auroc_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """AUROC per row, defined as ``roc_auc_score`` is.

    Parameters
    ----------
    y : array ``(B, n)``
        Labels: bool/0-1 for a binary score, or class indices 0..C-1.
    s : array ``(B, n)`` or ``(B, n, C)``
        A score for the positive class, or class probabilities: with C = 2 the AUROC of
        class 1's column; with C > 2 the one-vs-rest macro average (each class against the
        rest, unweighted mean), NaN when a row lacks a class.
    """
    s = np.asarray(s, dtype=float)
    y = np.asarray(y)
    if s.ndim == 2:
        return _binary_auroc_rows(y, s)
    if s.shape[-1] == 2:
        return _binary_auroc_rows(y == 1, s[..., 1])
    per_class = [_binary_auroc_rows(y == c, s[..., c]) for c in range(s.shape[-1])]
    return np.mean(per_class, axis=0)  # NaN of any class propagates, as sklearn refuses such a row


def average_precision_rows(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Average precision per row, ``sklearn.metrics.average_precision_score`` exactly (ties included).

    AP = Σ over thresholds of (recall step) × precision; tied scores form one threshold,
    so each positive is credited the precision at the end of its tie group. NaN for a row
    without positives.
    """
    y = np.asarray(y, dtype=bool)
    s = np.asarray(s, dtype=float)
    n = y.shape[1]
    order = np.argsort(-s, axis=1, kind="stable")
    sorted_s = np.take_along_axis(s, order, axis=1)
    sorted_y = np.take_along_axis(y, order, axis=1)
    true_pos = np.cumsum(sorted_y, axis=1)
    # Index of the last item of each item's tie group: the next position where the score changes.
    group_end = np.ones_like(sorted_y)
    group_end[:, :-1] = sorted_s[:, 1:] != sorted_s[:, :-1]
    positions = np.where(group_end, np.arange(n), n - 1)
    end = np.minimum.accumulate(positions[:, ::-1], axis=1)[:, ::-1]
    precision_at_end = np.take_along_axis(true_pos, end, axis=1) / (end + 1)
    n_pos = y.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_pos > 0, np.where(sorted_y, precision_at_end, 0.0).sum(axis=1) / n_pos, np.nan)


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation per row (``scipy.stats.spearmanr``: Pearson of mid-ranks); NaN for a constant row."""
    rx = rankdata(x, axis=1)
    ry = rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (rx * ry).sum(axis=1) / denominator, np.nan)


def _top_k_mask(s: np.ndarray, k: int, tiebreak: np.ndarray) -> np.ndarray:
    """The k highest scores of each row, NaN last, ties by ``tiebreak`` (position: ``metrics.top_k``)."""
    order = np.lexsort((tiebreak, -np.asarray(s, dtype=float)), axis=-1)[:, :k]  # NaN sorts last
    mask = np.zeros(np.shape(s), dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def jaccard_at_k_rows(s: np.ndarray, reference: np.ndarray, k: int, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Jaccard index of the top-k items by ``s`` and by ``reference`` per row (items = positions).

    The scored top k breaks ties by position (``metrics.top_k``); the reference's leaves out
    NaN and breaks ties by ``tiebreak`` (per item, e.g. the rank of its gene ID; default:
    position), so it may hold fewer than k items (``metrics.reference_top_k``).
    """
    k = min(int(k), np.shape(s)[1])
    if k == 0:
        return np.full(np.shape(s)[0], np.nan)
    position = np.broadcast_to(np.arange(np.shape(s)[1]), np.shape(s))
    tiebreak = position if tiebreak is None else np.broadcast_to(tiebreak, np.shape(s))
    top = _top_k_mask(s, k, position)
    reference_top = _top_k_mask(reference, k, tiebreak) & ~np.isnan(np.asarray(reference, dtype=float))
    return jaccard_from_counts((top & reference_top).sum(axis=1), top.sum(axis=1), reference_top.sum(axis=1))


def jaccard_from_counts(overlap: np.ndarray | int, size_a: np.ndarray | int, size_b: np.ndarray | int) -> np.ndarray:
    """Jaccard index ``|a ∩ b| / |a ∪ b|`` from the overlap and the two set sizes, elementwise.

    The one Jaccard rule of the package: the per-row top-k sets above and the gene sets of
    :func:`genexai.evaluation.metrics.jaccard` both count their sets and divide here, so
    every Jaccard column agrees to the bit. NaN where both sets are empty (no union).
    """
    overlap = np.asarray(overlap)
    union = np.asarray(size_a) + np.asarray(size_b) - overlap
    return np.where(union > 0, overlap / np.maximum(union, 1), np.nan)
