"""Estimators: one interface (:class:`Estimator`) over Lightning networks and scikit-learn / XGBoost models.

:func:`estimator_class` is the one place that decides which kind a ``model`` config is;
everything downstream (training, evaluation, significance) talks to the interface.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import hydra
from omegaconf import DictConfig

from genexai.estimators.base import Estimator, FitResult, Recipe
from genexai.estimators.classical import ClassicalModel
from genexai.estimators.lightning import LightningEstimator
from genexai.estimators.sklearn_adapter import SklearnEstimator

__all__ = ["Estimator", "FitResult", "Recipe", "build_estimator", "estimator_class", "LightningEstimator", "SklearnEstimator"]


def estimator_class(model_cfg: DictConfig | Mapping[str, Any] | None) -> type[Estimator]:
    """The adapter for a ``model`` config: :class:`SklearnEstimator` when it builds a ClassicalModel, else Lightning."""
    target = (model_cfg or {}).get("_target_") if isinstance(model_cfg, Mapping | DictConfig) else None
    if isinstance(target, str):
        try:
            cls = hydra.utils.get_class(target)
        except Exception:  # an unimportable target is the instantiation step's error to report
            cls = None
        if isinstance(cls, type) and issubclass(cls, ClassicalModel):
            return SklearnEstimator
    return LightningEstimator


def build_estimator(cfg: DictConfig, datamodule: Any) -> Estimator:
    """An unfitted estimator of ``cfg.model`` for the genes and classes the data module produced."""
    return estimator_class(cfg.model)(cfg, datamodule.gene_names, datamodule.class_names)
