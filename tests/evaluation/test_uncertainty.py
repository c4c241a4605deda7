"""CIs of test metrics (coverage on small test sets), the bootstrap, and the batched metrics (equal to scikit-learn / scipy)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score

from genexai.evaluation.batched import (
    auroc_rows,
    average_precision_rows,
    jaccard_at_k_rows,
    spearman_rows,
)
from genexai.evaluation.metrics import topk_metrics
from genexai.evaluation.uncertainty import (
    accuracy_interval,
    auroc_interval,
    bootstrap_ci,
    bootstrap_indices,
    classification_intervals,
    percentile_interval,
    small_test_warning,
)


def _rows(seed: int = 0, b: int = 25, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels and scores rounded to one decimal, so rows have ties (the hard case)."""
    rng = np.random.default_rng(seed)
    y = rng.random((b, n)) < 0.3
    y[:, 0], y[:, 1] = True, False  # both classes in every row
    return y, np.round(rng.random((b, n)) + 0.5 * y, 1)


def test_batched_metrics_equal_sklearn_and_scipy_row_by_row():
    y, s = _rows()
    auroc, ap = auroc_rows(y, s), average_precision_rows(y, s)
    rho = spearman_rows(s, y.astype(float) + s**2)
    for i in range(len(y)):
        assert auroc[i] == pytest.approx(roc_auc_score(y[i], s[i]))
        assert ap[i] == pytest.approx(average_precision_score(y[i], s[i]))
        assert rho[i] == pytest.approx(spearmanr(s[i], y[i] + s[i] ** 2).statistic)
    # multiclass probabilities: one-vs-rest macro, as the classifiers score AUROC
    rng = np.random.default_rng(1)
    labels = np.tile(np.arange(3), (4, 10))
    proba = rng.dirichlet(np.ones(3), size=(4, 30))
    expected = [roc_auc_score(labels[i], proba[i], multi_class="ovr", average="macro") for i in range(4)]
    assert auroc_rows(labels, proba) == pytest.approx(expected)
    assert auroc_rows(labels == 1, proba[..., :2] / proba[..., :2].sum(-1, keepdims=True)) == pytest.approx(
        [roc_auc_score(labels[i] == 1, proba[i, :, 1] / proba[i, :, :2].sum(-1)) for i in range(4)]
    )
    # undefined rows are NaN, not an error
    assert np.isnan(auroc_rows(np.zeros((1, 5), bool), s[:1, :5])).all()
    assert np.isnan(average_precision_rows(np.zeros((1, 5), bool), s[:1, :5])).all()
    assert np.isnan(spearman_rows(np.ones((1, 5)), s[:1, :5])).all()


def test_batched_jaccard_matches_topk_metrics_with_ties_and_nan():
    rng = np.random.default_rng(2)
    genes = [f"g{i}" for i in range(50)]
    scores = pd.Series(np.round(rng.random(50), 1), index=genes)
    reference = pd.Series(np.where(rng.random(50) < 0.2, np.nan, np.round(rng.random(50), 1)), index=genes)
    hits = pd.Series(False, index=genes)
    # The reference's ties are broken by gene ID (g10 < g2 as strings), not by position.
    gene_id_rank = np.argsort(np.argsort(np.array(genes, dtype=str), kind="stable"), kind="stable")
    for k in (1, 5, 10, 50):
        expected = topk_metrics(scores, reference, hits, k)["jaccard"]
        got = jaccard_at_k_rows(scores.to_numpy()[None], reference.to_numpy()[None], k, gene_id_rank)[0]
        assert got == pytest.approx(expected)


def test_ci_contains_the_estimate_and_shrinks_with_more_samples():
    rng = np.random.default_rng(0)

    def sample(n):
        y = np.repeat([0, 1], n // 2)
        return y, y + rng.normal(0, 1.2, n)

    widths = []
    for n in (30, 300):
        y, s = sample(n)
        low, high = bootstrap_ci(y, s, auroc_rows, n_boot=500, seed=0)
        assert low < roc_auc_score(y, s) < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # ~1/sqrt(n): ten times the samples, a third of the width


def test_same_seed_same_interval_and_class_counts_kept():
    y = np.repeat([0, 1], [7, 5])
    s = np.random.default_rng(3).random(12) + 0.3 * y  # overlapping classes: AUROC < 1
    assert bootstrap_ci(y, s, auroc_rows, 200, seed=1) == bootstrap_ci(y, s, auroc_rows, 200, seed=1)
    assert bootstrap_ci(y, s, auroc_rows, 200, seed=1) != bootstrap_ci(y, s, auroc_rows, 200, seed=2)
    idx = bootstrap_indices(y, 50, seed=0)
    assert idx.shape == (50, 12) and ((y[idx] == 1).sum(axis=1) == 5).all()  # stratified: 5 of class 1 each time


def test_nan_handling():
    one_class = np.zeros(10, int)
    assert np.isnan(bootstrap_ci(one_class, np.arange(10.0), auroc_rows, 100)).all()
    assert np.isnan(bootstrap_ci(np.array([], int), np.array([]), auroc_rows, 100)).all()
    # unstratified: resamples that lose a class are dropped, the rest still give an interval
    y = np.array([0, 0, 0, 0, 1, 1])
    low, high = bootstrap_ci(y, np.arange(6.0), auroc_rows, 300, seed=0, stratify=False)
    assert np.isfinite([low, high]).all()
    assert np.isnan(percentile_interval(np.array([np.nan, np.nan]))).all()
    assert percentile_interval(np.array([np.nan, 0.5, 0.5])) == (0.5, 0.5)  # NaN resamples dropped


def test_small_test_intervals_cover_a_near_perfect_auroc():
    """6 + 6 samples, true AUROC 0.96: the percentile bootstrap collapses onto the estimate, the score interval does not."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 6)
    true_auroc = norm.cdf(2.5 / np.sqrt(2))
    covered = []
    for _ in range(300):
        s = rng.normal(2.5 * y, 1.0)
        low, high = auroc_interval(y, s)
        assert low <= roc_auc_score(y, s) <= high
        covered.append(low <= true_auroc <= high)
    assert np.mean(covered) >= 0.93
    perfect = np.arange(12.0)
    assert bootstrap_ci(y, perfect, auroc_rows, 200) == (1.0, 1.0)  # what a bootstrap would have reported
    assert 0.6 < auroc_interval(y, perfect)[0] < 0.8 and auroc_interval(y, perfect)[1] == 1.0
    assert auroc_interval(y, -perfect) == (0.0, pytest.approx(1 - auroc_interval(y, perfect)[0]))
    assert np.isnan(auroc_interval(np.zeros(5), np.arange(5.0))).all()
    # accuracy 12/12 is not "certainly 1": Wilson's interval
    low, high = accuracy_interval(y, y)
    assert 0.7 < low < 0.8 and high == 1.0


def test_small_test_set_is_warned_about(caplog):
    y = np.repeat([0, 1], 6)
    proba = np.stack([1 - np.linspace(0.1, 0.9, 12), np.linspace(0.1, 0.9, 12)], axis=1)
    with caplog.at_level(logging.WARNING, logger="genexai"):
        out = classification_intervals(y, proba.argmax(1), proba, n_boot=200, seed=0)
    assert "test set has 12 samples (< 20)" in caplog.text and "unreliable" in caplog.text
    assert out["test/n_samples"] == 12 and out["test/ci_level"] == 0.95
    assert out["test/auroc_ci_low"] < 1.0 == out["test/auroc_ci_high"]
    assert 0 <= out["test/acc_ci_low"] <= 1.0 <= out["test/acc_ci_high"] + 1e-12
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="genexai"):
        classification_intervals(np.repeat([0, 1], 10), np.zeros(20, int), np.linspace(0, 1, 20), n_boot=50)
    assert "unreliable" not in caplog.text
    assert small_test_warning(20) is None and "6 samples" in small_test_warning(6)


def test_more_than_two_classes_use_the_seeded_bootstrap():
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1, 2], 15)
    proba = rng.dirichlet(np.ones(3), 45) + 0.3 * np.eye(3)[y]  # overlapping classes
    proba /= proba.sum(axis=1, keepdims=True)
    first = classification_intervals(y, proba.argmax(1), proba, n_boot=300, seed=5)
    assert first == classification_intervals(y, proba.argmax(1), proba, n_boot=300, seed=5)
    assert first != classification_intervals(y, proba.argmax(1), proba, n_boot=300, seed=6)
    assert first["test/auroc_ci_low"] < roc_auc_score(y, proba, multi_class="ovr") < first["test/auroc_ci_high"]
