"""Model-agnostic importances of classical models by Captum's perturbation methods.

The fitted model becomes a torch-callable forward function (``float tensor -> float64
tensor``) and Captum perturbs its inputs: :class:`~captum.attr.FeatureAblation` over the
model's score of class ``target`` (``feature_ablation``), and
:class:`~captum.attr.FeaturePermutation` over a score of the predictions against the
labels (``permutation``). Both reproduce scikit-learn's / the earlier hand-written loops
bit for bit: the same ablated copies per forward call, the same shuffles.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from captum.attr import FeatureAblation, FeaturePermutation
from joblib import Parallel, delayed
from sklearn.metrics import check_scoring
from sklearn.utils import check_random_state
from torch import Tensor

from genexai.attribution.base import GLOBAL, PER_SAMPLE
from genexai.attribution.classical import ClassicalAttribution
from genexai.attribution.registry import register
from genexai.errors import AttributionError

if TYPE_CHECKING:
    from genexai.estimators.classical import ClassicalModel

# Keep one forward call's ablated copies under ~16 MiB of float32.
_ABLATION_BLOCK = 2**22


def as_forward(fn: Callable[[np.ndarray], np.ndarray | float]) -> Callable[[Tensor], Tensor]:
    """Wrap a numpy scoring function as the torch forward function Captum perturbs (float64 out)."""

    def forward(x: Tensor) -> Tensor:
        return torch.as_tensor(np.atleast_1d(np.asarray(fn(x.numpy()), dtype=np.float64)))

    return forward


@register("feature_ablation")
class Ablation(ClassicalAttribution):
    """``f(x) - f(x with gene j set to baseline)`` per sample and gene, by Captum's FeatureAblation.

    ``f`` is :meth:`ClassicalModel.decision` for class ``target`` (a margin where the
    model has one, else the probability); ``baseline`` 0 is the training mean after
    standardisation. The ``n * G`` ablated copies are scored ``block_size`` genes per
    forward call (automatic: ~16 MiB per call).
    """

    shape = PER_SAMPLE

    def __init__(self, model: ClassicalModel, baseline: float = 0.0, block_size: int | None = None, seed: int = 0) -> None:
        self.baseline, self.block_size = baseline, block_size
        super().__init__(model, seed=seed)

    def compute(self, x: np.ndarray, target: int) -> tuple[np.ndarray, dict[str, Any]]:
        n, g = x.shape
        block = self.block_size or max(1, _ABLATION_BLOCK // max(1, n * g))
        forward = as_forward(lambda rows: self.model.decision(rows, target))
        values = FeatureAblation(forward).attribute(
            torch.from_numpy(x), baselines=self.baseline, perturbations_per_eval=min(block, g)
        )
        margin = self.model.is_xgboost or hasattr(self.model.core, "decision_function")
        return values.numpy(), {"baseline": self.baseline, "output": "margin" if margin else "probability"}


@register("permutation")
class Permutation(ClassicalAttribution):
    """Mean score drop over ``n_repeats`` seeded shuffles of each gene, by Captum's FeaturePermutation.

    ``scoring`` (a scikit-learn scorer name) defaults to log-loss (``neg_log_loss``) for
    models with probabilities, else ROC AUC: a rank metric such as AUC saturates at 1 on
    separable data, where shuffling any single one of many redundant DE genes leaves it
    unchanged, so every gene scores ~0. The shuffles are those of
    ``sklearn.inspection.permutation_importance(random_state=seed)`` (one seeded row
    order per repeat, the same for every gene, each repeat shuffling the previous
    repeat's column again), so the numbers are scikit-learn's; ``n_jobs`` runs the
    repeats in parallel. Costs ``n_genes * n_repeats`` predictions of the whole split:
    slow for large forests.
    """

    shape = GLOBAL
    uses_labels = True

    def __init__(
        self,
        model: ClassicalModel,
        labels: np.ndarray,
        n_repeats: int = 5,
        scoring: str | None = None,
        n_jobs: int | None = 1,
        seed: int = 0,
    ) -> None:
        self.labels = np.asarray(labels)
        self.n_repeats, self.n_jobs = n_repeats, n_jobs
        super().__init__(model, seed=seed)
        if scoring is None:
            binary = len(model.class_names or np.unique(self.labels)) == 2
            scoring = "neg_log_loss" if model.has_proba else ("roc_auc" if binary else "roc_auc_ovr")
        self.scoring = scoring

    def check_model(self, model: ClassicalModel) -> None:
        present = np.unique(self.labels)
        if len(present) < 2:
            raise AttributionError(
                f"permutation importance needs both classes in the split, got only {present.tolist()}; "
                "use a larger split (attribution.split=train)"
            )

    def compute(self, x: np.ndarray, target: int) -> tuple[np.ndarray, dict[str, Any]]:
        scorer = check_scoring(self.model.estimator, scoring=self.scoring)
        forward = as_forward(lambda rows: _score(scorer, self.model.estimator, rows, self.labels))
        orders = _shuffles(x.shape[0], self.n_repeats, self.seed)
        inputs = torch.from_numpy(x)
        drops = Parallel(n_jobs=self.n_jobs)(
            delayed(_permuted_drop)(forward, inputs, order) for order in orders
        )  # n_repeats x [G]
        importances = np.stack(drops, axis=1)  # [G, n_repeats], as scikit-learn averages it
        return np.mean(importances, axis=1), {
            "scoring": self.scoring,
            "n_repeats": self.n_repeats,
            "std_mean": float(np.mean(np.std(importances, axis=1))),
        }


def _score(scorer: Callable[..., float], estimator: Any, x: np.ndarray, y: np.ndarray) -> float:
    with warnings.catch_warnings():
        # XGBoost's float32 probabilities miss sum == 1 by ~1e-7; log-loss renormalises them anyway.
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        return scorer(estimator, x, y)


def _shuffles(n: int, n_repeats: int, seed: int) -> list[np.ndarray]:
    """Row order of the shuffled column in each repeat, as ``permutation_importance`` draws them.

    It draws one seed from ``random_state``, then per gene shuffles one index array in
    place ``n_repeats`` times with a generator of that seed and re-indexes the already
    shuffled column each time: repeat ``r``'s column is ``x[order_r]`` with
    ``order_r = order_{r-1}[shuffle_r]``.
    """
    random_state = check_random_state(check_random_state(seed).randint(np.iinfo(np.int32).max + 1))
    shuffling, order, orders = np.arange(n), np.arange(n), []
    for _ in range(n_repeats):
        random_state.shuffle(shuffling)
        order = order[shuffling]
        orders.append(order)
    return orders


def _permuted_drop(forward: Callable[[Tensor], Tensor], inputs: Tensor, order: np.ndarray) -> np.ndarray:
    """Score drop ``[G]`` when each gene alone takes the row order ``order`` (one repeat)."""
    rows = torch.from_numpy(order)

    def permute(x: Tensor, mask: Tensor) -> Tensor:
        return torch.where(mask, x[rows], x)

    drop = FeaturePermutation(forward, perm_func=permute).attribute(inputs, perturbations_per_eval=1)
    return drop.reshape(-1).numpy()
