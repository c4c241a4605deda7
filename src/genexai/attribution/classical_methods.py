"""Gene importances of classical models, registered by name (run by :mod:`genexai.attribution.classical`).

Definitions (METHODS.md, "Trees / linear"); the library computes wherever one exists:

===================  ===========  ==================================================================
name                 shape        what
===================  ===========  ==================================================================
``impurity``         global       ``feature_importances_`` (random forest: mean decrease in impurity;
                                  XGBoost: its ``importance_type``, default gain, over the trees up to
                                  ``best_iteration``)
``permutation``      global       ``sklearn.inspection.permutation_importance``: mean drop of the score
                                  (default log-loss; ROC AUC without probabilities) when one gene is
                                  shuffled, ``n_repeats`` seeded shuffles; can be negative
``tree_shap``        per sample   XGBoost ``pred_contribs=True`` (exact TreeSHAP, log-odds of class
                                  ``target``; bias column dropped). Not for scikit-learn forests: they
                                  have no built-in TreeSHAP and ``shap`` is not a dependency
``coefficients``     global,      ``|coef|`` of a linear model (linear SVM, logistic regression);
                     signed       ``signed_diff`` holds ``coef`` (> 0: higher expression -> class B)
``coef_x_input``     per sample   ``coef_j * x_ij`` (baseline 0 = training mean); sums to the margin
                                  minus the intercept
``feature_ablation`` per sample   ``f(x) - f(x with x_j = baseline)`` for every gene, ``f`` the
                                  model's score (:meth:`ClassicalModel.decision`); model-agnostic
                                  (RBF SVM, any model)
===================  ===========  ==================================================================

Per-sample methods are aggregated like the neural ones (mean ``|a|``, signed class means).
Global methods have one value per gene: ``importance`` is that value (``|coef|`` for
``coefficients``), ``mean_<class>`` are NaN and ``signed_diff`` is NaN unless the method
has a sign (``coefficients``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.inspection import permutation_importance

from genexai.estimators.classical import ClassicalModel
from genexai.errors import AttributionError, ConfigError

__all__ = ["GLOBAL", "GLOBAL_SIGNED", "KINDS", "PER_SAMPLE", "available_importance_methods", "register_importance"]

log = logging.getLogger(__name__)

PER_SAMPLE, GLOBAL, GLOBAL_SIGNED = "per_sample", "global", "global_signed"
KINDS = (PER_SAMPLE, GLOBAL, GLOBAL_SIGNED)

#: ``fn(model, inputs [n, G], labels [n], *, target, seed, **options) -> (values, info)``
ImportanceFn = Callable[..., tuple[np.ndarray, dict[str, Any]]]

# Keep one block of ablated copies under ~16 MiB of float32.
_ABLATION_BLOCK = 2**22


@dataclass(frozen=True)
class _Entry:
    fn: ImportanceFn
    kind: str


_METHODS: dict[str, _Entry] = {}


def register_importance(name: str, kind: str) -> Callable[[ImportanceFn], ImportanceFn]:
    """Add an importance function under ``name``; ``kind`` is ``per_sample``, ``global`` or ``global_signed``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def add(fn: ImportanceFn) -> ImportanceFn:
        if name in _METHODS:
            raise ValueError(f"classical importance method {name!r} is registered twice")
        _METHODS[name] = _Entry(fn, kind)
        return fn

    return add


def available_importance_methods() -> list[str]:
    """Registered classical importance methods, sorted."""
    return sorted(_METHODS)


# ---------------------------------------------------------------------------- methods


@register_importance("impurity", GLOBAL)
def impurity_importance(
    model: ClassicalModel, inputs: np.ndarray, labels: np.ndarray, *, target: int, seed: int, importance_type: str | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """``feature_importances_`` of a tree ensemble (normalised to sum 1); ``importance_type`` for XGBoost."""
    core = model.core
    if model.is_xgboost:
        kind = importance_type or getattr(core, "importance_type", None) or "gain"
        booster = core.get_booster()
        if model.best_iteration is not None:
            booster = booster[: model.best_iteration + 1]  # the trees predictions actually use
        scores = booster.get_score(importance_type=kind)
        names = booster.feature_names or [f"f{j}" for j in range(inputs.shape[1])]
        values = np.array([scores.get(n, 0.0) for n in names], dtype=np.float64)
        total = values.sum()
        return (values / total if total > 0 else values), {"importance_type": kind}
    if importance_type is not None:
        raise ConfigError(f"impurity: importance_type applies to XGBoost only, not {model.name}")
    if not hasattr(core, "feature_importances_"):
        raise AttributionError(
            f"impurity needs a tree ensemble (random forest, XGBoost), but {model.name} has no feature_importances_; "
            "use permutation or feature_ablation"
        )
    return np.asarray(core.feature_importances_, dtype=np.float64), {}


@register_importance("permutation", GLOBAL)
def permutation(
    model: ClassicalModel,
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    target: int,
    seed: int,
    n_repeats: int = 5,
    scoring: str | None = None,
    n_jobs: int | None = 1,
    max_samples: float | int = 1.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Mean score drop over ``n_repeats`` seeded shuffles of each gene (scikit-learn).

    ``scoring`` defaults to log-loss (``neg_log_loss``) for models with probabilities,
    else ROC AUC: a rank metric such as AUC saturates at 1 on separable data, where
    shuffling any single one of many redundant DE genes leaves it unchanged, so every
    gene scores ~0. Costs ``n_genes * n_repeats`` predictions of the whole split: slow
    for large forests.
    """
    present = np.unique(labels)
    if len(present) < 2:
        raise AttributionError(
            f"permutation importance needs both classes in the split, got only {present.tolist()}; "
            "use a larger split (attribution.split=train)"
        )
    if scoring is None:
        binary = len(model.class_names or present) == 2
        scoring = "neg_log_loss" if model.has_proba else ("roc_auc" if binary else "roc_auc_ovr")
    with warnings.catch_warnings():
        # XGBoost's float32 probabilities miss sum == 1 by ~1e-7; log-loss renormalises them anyway.
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        result = permutation_importance(
            model.estimator,
            inputs,
            labels,
            scoring=scoring,
            n_repeats=n_repeats,
            random_state=seed,
            n_jobs=n_jobs,
            max_samples=max_samples,
        )
    return np.asarray(result.importances_mean, dtype=np.float64), {
        "scoring": scoring,
        "n_repeats": n_repeats,
        "std_mean": float(np.mean(result.importances_std)),
    }


@register_importance("tree_shap", PER_SAMPLE)
def tree_shap(
    model: ClassicalModel, inputs: np.ndarray, labels: np.ndarray, *, target: int, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Exact TreeSHAP of XGBoost (``pred_contribs=True``) on the log-odds of class ``target``."""
    if not model.is_xgboost:
        raise AttributionError(
            f"tree_shap uses XGBoost's built-in TreeSHAP, which {model.name} does not have (the shap package is not "
            "a dependency); use impurity or permutation for this model, or model=xgboost"
        )
    import xgboost

    core = model.core
    dmatrix = xgboost.DMatrix(inputs)
    contribs = np.asarray(core.get_booster().predict(dmatrix, pred_contribs=True, **model._xgb_range()), dtype=np.float64)
    margin = model.decision(inputs, target)
    if contribs.ndim == 3:  # multi-class: [n, k, G + 1]
        contribs = contribs[:, target, :]
    elif target != 1:  # binary: contributions to the class-1 log-odds; class 0's are their negatives
        contribs = -contribs
    values, bias = contribs[:, :-1], contribs[:, -1]
    delta = np.abs(values.sum(axis=1) + bias - margin)
    return values, {"delta_abs_mean": float(delta.mean()), "delta_abs_max": float(delta.max())}


def _coef(model: ClassicalModel, target: int) -> tuple[np.ndarray, float]:
    core = model.core
    if not hasattr(core, "coef_"):  # SVC hides coef_ unless the kernel is linear
        raise AttributionError(
            f"coefficients need a linear model (linear SVM, logistic regression), but {model.name}"
            f"{' with kernel=' + core.kernel if hasattr(core, 'kernel') else ''} has none; "
            "use feature_ablation or permutation"
        )
    coef = np.asarray(core.coef_.toarray() if hasattr(core.coef_, "toarray") else core.coef_, dtype=np.float64)
    intercept = np.atleast_1d(np.asarray(core.intercept_, dtype=np.float64))
    if coef.shape[0] == 1:  # binary: one vector for class 1
        sign = 1.0 if target == 1 else -1.0
        return sign * coef[0], float(sign * intercept[0])
    return coef[target], float(intercept[target])


@register_importance("coefficients", GLOBAL_SIGNED)
def coefficients(
    model: ClassicalModel, inputs: np.ndarray, labels: np.ndarray, *, target: int, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Signed coefficient of every gene for class ``target``; the table ranks by ``|coef|``."""
    coef, _ = _coef(model, target)
    return coef, {"n_nonzero": int(np.count_nonzero(coef))}


@register_importance("coef_x_input", PER_SAMPLE)
def coef_x_input(
    model: ClassicalModel, inputs: np.ndarray, labels: np.ndarray, *, target: int, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """``coef_j * x_ij``: the exact additive decomposition of a linear margin (baseline: training mean)."""
    coef, intercept = _coef(model, target)
    values = inputs.astype(np.float64) * coef
    delta = np.abs(values.sum(axis=1) + intercept - model.decision(inputs, target))
    return values, {"delta_abs_mean": float(delta.mean()), "delta_abs_max": float(delta.max())}


@register_importance("feature_ablation", PER_SAMPLE)
def feature_ablation(
    model: ClassicalModel,
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    target: int,
    seed: int,
    baseline: float = 0.0,
    block_size: int | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``f(x) - f(x with gene j set to baseline)`` per sample and gene (Captum's FeatureAblation rule).

    ``baseline`` 0 is the training mean after standardisation. The ``n * G`` ablated
    copies are scored in blocks of ``block_size`` genes (automatic: ~16 MiB per block).
    """
    x = inputs.astype(np.float32)
    n, g = x.shape
    block = block_size or max(1, _ABLATION_BLOCK // max(1, n * g))
    full = model.decision(x, target)
    values = np.empty((n, g), dtype=np.float64)
    for start in range(0, g, block):
        genes = np.arange(start, min(start + block, g))
        copies = np.repeat(x[None], len(genes), axis=0)  # [b, n, G]
        copies[np.arange(len(genes)), :, genes] = baseline
        ablated = model.decision(copies.reshape(-1, g), target).reshape(len(genes), n)
        values[:, genes] = (full[None, :] - ablated).T
    return values, {"baseline": baseline, "output": "margin" if _has_margin(model) else "probability"}


def _has_margin(model: ClassicalModel) -> bool:
    return model.is_xgboost or hasattr(model.core, "decision_function")
