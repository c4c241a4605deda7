"""Captum-based classical importances reproduce scikit-learn's and the direct definitions exactly."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression

from genexai.attribution import compute_attributions, compute_classical_importance
from genexai.estimators.classical import ClassicalModel


def _fitted(estimator) -> tuple[ClassicalModel, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] + 0.5 * rng.standard_normal(40) > 0).astype(np.int64)
    model = ClassicalModel(estimator, gene_names=[f"g{j}" for j in range(6)], class_names=["A", "B"])
    return model.fit(x, y), x, y


@pytest.mark.parametrize("estimator", [LogisticRegression(), RandomForestClassifier(n_estimators=10, random_state=0)])
@pytest.mark.parametrize("seed", [0, 3])
def test_permutation_is_sklearns_permutation_importance(estimator, seed: int) -> None:
    model, x, y = _fitted(estimator)
    values, info = compute_classical_importance(model, x, y, [{"name": "permutation", "n_repeats": 4}], seed=seed)
    reference = permutation_importance(model.estimator, x, y, scoring="neg_log_loss", n_repeats=4, random_state=seed)
    np.testing.assert_array_equal(values["permutation"], reference.importances_mean)
    assert info["permutation"]["std_mean"] == float(np.mean(reference.importances_std))


def test_feature_ablation_is_the_score_drop_of_each_gene() -> None:
    model, x, y = _fitted(LogisticRegression())
    values, _ = compute_classical_importance(model, x, y, [{"name": "feature_ablation", "baseline": 0.5, "block_size": 4}])
    expected = np.empty_like(values["feature_ablation"])
    for j in range(x.shape[1]):
        ablated = x.copy()
        ablated[:, j] = 0.5
        expected[:, j] = model.decision(x, 1) - model.decision(ablated, 1)
    np.testing.assert_array_equal(values["feature_ablation"], expected)


def test_skipped_methods_are_logged_on_one_line(caplog) -> None:
    model, x, y = _fitted(RandomForestClassifier(n_estimators=5, random_state=0))
    with caplog.at_level(logging.INFO, logger="genexai.attribution.compute"):
        _, info = compute_attributions(model, x, ["tree_shap", "coefficients", "impurity"], labels=y, skip_inapplicable=True)
    assert {label for label, item in info.items() if "skipped" in item} == {"tree_shap", "coefficients"}
    lines = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(lines) == 1 and "tree_shap" in lines[0] and "coefficients" in lines[0]
