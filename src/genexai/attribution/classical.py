"""Gene importances of scikit-learn / XGBoost models, as attribution methods of the one registry.

Definitions (METHODS.md, "Trees / linear"); the library computes wherever one exists:

===================  ===========  ==================================================================
name                 shape        what
===================  ===========  ==================================================================
``impurity``         global       ``feature_importances_`` (random forest: mean decrease in impurity;
                                  XGBoost: its ``importance_type``, default gain, over the trees up to
                                  ``best_iteration``)
``permutation``      global       mean drop of the score (default log-loss; ROC AUC without
                                  probabilities) when one gene is shuffled, ``n_repeats`` seeded
                                  shuffles; can be negative (:mod:`~genexai.attribution.perturbation`)
``tree_shap``        per sample   XGBoost ``pred_contribs=True`` (exact TreeSHAP, log-odds of class
                                  ``target``; bias column dropped). Not for scikit-learn forests: they
                                  have no built-in TreeSHAP and ``shap`` is not a dependency
``coefficients``     global,      ``|coef|`` of a linear model (linear SVM, logistic regression);
                     signed       ``signed_diff`` holds ``coef`` (> 0: higher expression -> class B)
``coef_x_input``     per sample   ``coef_j * x_ij`` (baseline 0 = training mean); sums to the margin
                                  minus the intercept
``feature_ablation`` per sample   ``f(x) - f(x with x_j = baseline)`` for every gene, ``f`` the
                                  model's score (:meth:`ClassicalModel.decision`); model-agnostic
                                  (RBF SVM, any model) (:mod:`~genexai.attribution.perturbation`)
===================  ===========  ==================================================================

Per-sample methods are aggregated like the neural ones (mean ``|a|``, signed class means).
Global methods have one value per gene (:func:`~genexai.attribution.table.classical_importance_table`).
Each method checks at construction that it applies to the model (tree-only, linear-only),
so the attribution loop skips the inapplicable ones as it does for torch methods.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from genexai.attribution.base import CLASSICAL, GLOBAL, GLOBAL_SIGNED, PER_SAMPLE, Explainer, Target, model_kind
from genexai.attribution.registry import register
from genexai.errors import AttributionError, ConfigError

if TYPE_CHECKING:  # the estimators are not imported at run time (model_kind recognises them)
    from genexai.estimators.classical import ClassicalModel


class ClassicalAttribution(Explainer):
    """An importance of a fitted :class:`~genexai.estimators.classical.ClassicalModel`.

    Parameters
    ----------
    model
        The fitted model.
    seed
        Seed of sampling methods (permutation shuffles); unused by the exact ones.

    Subclasses implement :meth:`compute` on standardised float32 inputs ``[n, G]`` and
    refuse models they do not apply to in :meth:`check_model`.
    """

    applies_to = CLASSICAL
    # Per-sample scores (TreeSHAP, coef·x, feature ablation) are measured from the training mean.
    direction = "baseline"

    def __init__(self, model: ClassicalModel, seed: int = 0) -> None:
        if model_kind(model) != CLASSICAL:
            raise AttributionError(
                f"{self.name} explains a ClassicalModel (scikit-learn/XGBoost), got {type(model).__name__}"
            )
        if not model.fitted:
            raise ConfigError(f"{model.name} is not fitted; train it before computing importances")
        self.model, self.seed = model, seed
        self._info: dict[str, Any] = {}
        self.check_model(model)

    def check_model(self, model: ClassicalModel) -> None:
        """Raise :class:`AttributionError` if the method cannot be applied to ``model``."""

    @abstractmethod
    def compute(self, x: np.ndarray, target: int) -> tuple[np.ndarray, dict[str, Any]]:
        """Scores of class ``target`` (``[n, G]`` or ``[G]``, float64) and the run's summary."""

    def attribute(self, inputs: Tensor | np.ndarray, target: Target = 1) -> Tensor:
        """Scores (float64) of class ``target``, an index: a classical model explains one class at a time."""
        if not isinstance(target, int | np.integer):
            raise ConfigError(
                f"classical importances explain one class; attribution.target must be a class index, got {target!r}"
            )
        values, self._info = self.compute(self.model._check_x(inputs), int(target))
        if not np.isfinite(values).all():
            raise AttributionError(f"importance {self.name!r} of {self.model.name} contains NaN or inf")
        return torch.from_numpy(np.asarray(values, dtype=np.float64))

    def info(self) -> dict[str, Any]:
        return dict(self._info)

    def summary(self, seconds: float) -> dict[str, Any]:
        return {"kind": self.shape, "seconds": seconds, **self._info}


def delta_summary(values: np.ndarray, offset: np.ndarray | float, score: np.ndarray) -> dict[str, float]:
    """Completeness of an additive decomposition: ``|sum_j a_ij + offset - score_i|``, mean and max."""
    delta = np.abs(values.sum(axis=1) + offset - score)
    return {"delta_abs_mean": float(delta.mean()), "delta_abs_max": float(delta.max())}


@register("impurity")
class Impurity(ClassicalAttribution):
    """``feature_importances_`` of a tree ensemble (normalised to sum 1); ``importance_type`` for XGBoost."""

    shape = GLOBAL

    def __init__(self, model: ClassicalModel, importance_type: str | None = None, seed: int = 0) -> None:
        self.importance_type = importance_type
        super().__init__(model, seed=seed)

    def check_model(self, model: ClassicalModel) -> None:
        if model.is_xgboost:
            return
        if self.importance_type is not None:
            raise ConfigError(f"impurity: importance_type applies to XGBoost only, not {model.name}")
        if not hasattr(model.core, "feature_importances_"):
            raise AttributionError(
                f"impurity needs a tree ensemble (random forest, XGBoost), but {model.name} has no feature_importances_; "
                "use permutation or feature_ablation"
            )

    def compute(self, x: np.ndarray, target: int) -> tuple[np.ndarray, dict[str, Any]]:
        core = self.model.core
        if not self.model.is_xgboost:
            return np.asarray(core.feature_importances_, dtype=np.float64), {}
        kind = self.importance_type or getattr(core, "importance_type", None) or "gain"
        booster = core.get_booster()
        if self.model.best_iteration is not None:
            booster = booster[: self.model.best_iteration + 1]  # the trees predictions actually use
        scores = booster.get_score(importance_type=kind)
        names = booster.feature_names or [f"f{j}" for j in range(x.shape[1])]
        values = np.array([scores.get(n, 0.0) for n in names], dtype=np.float64)
        total = values.sum()
        return (values / total if total > 0 else values), {"importance_type": kind}


@register("tree_shap")
class TreeShap(ClassicalAttribution):
    """Exact TreeSHAP of XGBoost (``pred_contribs=True``) on the log-odds of class ``target``."""

    shape = PER_SAMPLE

    def check_model(self, model: ClassicalModel) -> None:
        if not model.is_xgboost:
            raise AttributionError(
                f"tree_shap uses XGBoost's built-in TreeSHAP, which {model.name} does not have (the shap package is "
                "not a dependency); use impurity or permutation for this model, or model=xgboost"
            )

    def compute(self, x: np.ndarray, target: int) -> tuple[np.ndarray, dict[str, Any]]:
        import xgboost

        model = self.model
        booster = model.core.get_booster()
        contribs = np.asarray(booster.predict(xgboost.DMatrix(x), pred_contribs=True, **model._xgb_range()), dtype=np.float64)
        if contribs.ndim == 3:  # multi-class: [n, K, G + 1]; the log-odds of target vs the reference class 0
            contribs = contribs[:, target, :] - contribs[:, 0, :]
        elif target != 1:  # binary: contributions to the class-1 log-odds; class 0's are their negatives
            contribs = -contribs
        values, bias = contribs[:, :-1], contribs[:, -1]
        return values, delta_summary(values, bias, model.decision(x, target))


class _Linear(ClassicalAttribution):
    """A method reading the coefficients of a linear model (linear SVM, logistic regression)."""

    def check_model(self, model: ClassicalModel) -> None:
        core = model.core
        if not hasattr(core, "coef_"):  # SVC hides coef_ unless the kernel is linear
            raise AttributionError(
                f"coefficients need a linear model (linear SVM, logistic regression), but {model.name}"
                f"{' with kernel=' + core.kernel if hasattr(core, 'kernel') else ''} has none; "
                "use feature_ablation or permutation"
            )

    def coef(self, target: int) -> tuple[np.ndarray, float]:
        """Coefficients and intercept of class ``target``'s margin (``K > 2``: its contrast with class 0's)."""
        core = self.model.core
        coef = np.asarray(core.coef_.toarray() if hasattr(core.coef_, "toarray") else core.coef_, dtype=np.float64)
        intercept = np.atleast_1d(np.asarray(core.intercept_, dtype=np.float64))
        if coef.shape[0] == 1:  # binary: one vector for class 1
            sign = 1.0 if target == 1 else -1.0
            return sign * coef[0], float(sign * intercept[0])
        if self.model.one_vs_one:  # one SVM per pair of classes; the pair (0, target) is row target - 1
            if target == 0:
                raise AttributionError(f"target=0 is the reference class of a {len(core.classes_)}-class model")
            return -coef[target - 1], float(-intercept[target - 1])
        if target == 0:
            raise AttributionError(f"target=0 is the reference class of a {coef.shape[0]}-class model; choose 1..{coef.shape[0] - 1}")
        return coef[target] - coef[0], float(intercept[target] - intercept[0])


@register("coefficients")
class Coefficients(_Linear):
    """Signed coefficient of every gene for class ``target``; the table ranks by ``|coef|``."""

    shape = GLOBAL_SIGNED

    def compute(self, x: np.ndarray, target: int) -> tuple[np.ndarray, dict[str, Any]]:
        coef, _ = self.coef(target)
        return coef, {"n_nonzero": int(np.count_nonzero(coef))}


@register("coef_x_input")
class CoefXInput(_Linear):
    """``coef_j * x_ij``: the exact additive decomposition of a linear margin (baseline: training mean)."""

    shape = PER_SAMPLE

    def compute(self, x: np.ndarray, target: int) -> tuple[np.ndarray, dict[str, Any]]:
        coef, intercept = self.coef(target)
        values = x.astype(np.float64) * coef
        return values, delta_summary(values, intercept, self.model.decision(x, target))
