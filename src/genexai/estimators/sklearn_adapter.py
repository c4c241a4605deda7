"""The scikit-learn / XGBoost adapter: a :class:`~genexai.estimators.classical.ClassicalModel` as an :class:`Estimator`.

No Trainer: one ``fit`` on the training split (XGBoost early-stops on the validation
split when configured), the model saved without pickle as ``checkpoints/model.skops`` (or
``model.ubj`` for XGBoost) + ``model.json`` (:mod:`genexai.estimators.classical_io`),
and its hyperparameters sent to the loggers as a Trainer would. Null and decoy copies
are reseeded and, for early-stopped XGBoost, get the observed number of trees.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from genexai.errors import ConfigError
from genexai.estimators.base import Estimator, FitResult, Recipe
from genexai.estimators.classical import ClassicalModel
from genexai.estimators.classical_io import load_classical, model_file, save_classical

__all__ = ["SklearnEstimator"]

log = logging.getLogger(__name__)


def _seed_estimator(estimator: Any, seed: int) -> None:
    params = estimator.get_params(deep=True)
    seeds = {key: seed for key in params if key == "random_state" or key.endswith("__random_state")}
    if seeds:
        estimator.set_params(**seeds)


class SklearnEstimator(Estimator):
    """``cfg.model`` (a ClassicalModel config: ``estimator`` + ``importance_methods``)."""

    def __init__(self, cfg: DictConfig, gene_names: list[str], class_names: list[str], model: ClassicalModel | None = None) -> None:
        super().__init__(cfg, gene_names, class_names)
        if model is None:
            model = hydra.utils.instantiate(cfg.model, gene_names=self.gene_names, class_names=self.class_names, _convert_="object")
            if not isinstance(model, ClassicalModel):
                raise ConfigError(f"model config builds {type(model).__name__}, not a ClassicalModel")
        self.model = model
        self.name = model.name

    @property
    def explained(self) -> ClassicalModel:
        return self.model

    def attribute(self, attribution_cfg: DictConfig, datamodule: Any, seed: int) -> tuple[Any, dict[str, Any]]:
        if not self.model.importance_methods:
            return None, {}
        from genexai.attribution import attribute  # late: attribution imports the estimators

        return attribute(attribution_cfg, self.model, datamodule, seed)

    def fit(self, datamodule: Any, run_dir: Path, loggers: list) -> FitResult:
        x_train, y_train = datamodule.tensors("train")
        x_val, y_val = datamodule.tensors("val")
        self.model.fit(x_train.numpy(), y_train.numpy(), x_val.numpy(), y_val.numpy())
        self.name = self.model.name
        checkpoint = save_classical(self.model, Path(run_dir) / "checkpoints")
        hparams = {
            "model": OmegaConf.to_container(self.cfg.model, resolve=True),
            "seed": self.cfg.seed,
            "data": self.cfg.data.get("name"),
            "n_genes": len(self.gene_names),
            "class_names": self.class_names,
        }
        for logger in loggers:
            logger.log_hyperparams(hparams)
        extra = {"best_iteration": self.model.best_iteration, "model": self.name}
        return FitResult(checkpoint=str(checkpoint), best_iteration=self.model.best_iteration, extra_metrics=extra)

    def predict_proba(self, x: np.ndarray) -> np.ndarray | None:
        return self.model.predict_proba(x)

    def scores(self, x: np.ndarray) -> np.ndarray:
        proba = self.model.predict_proba(x)
        return proba if proba is not None else self.model.decision(x, 1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict(x)

    @property
    def has_proba(self) -> bool:
        return self.model.has_proba

    def recipe(self, fit: FitResult | None) -> Recipe:
        return Recipe(best_iteration=self.model.best_iteration)

    def refit(self, view: Any, seed: int, recipe: Recipe) -> SklearnEstimator:
        copy = SklearnEstimator(self.cfg, view.gene_names, view.class_names)
        model = copy.model
        _seed_estimator(model.estimator, seed)
        if model.is_xgboost and getattr(model.estimator, "early_stopping_rounds", None):
            if recipe.best_iteration is None:
                raise ConfigError("significance: the observed XGBoost best_iteration is unknown; cannot train null models")
            model.estimator.set_params(n_estimators=recipe.best_iteration + 1, early_stopping_rounds=None)
        x, y = view.tensors("train")
        x_val, y_val = view.tensors("val") if "val" in view.split_index else (None, None)
        model.fit(x.numpy(), y.numpy(), None if x_val is None else x_val.numpy(), None if y_val is None else y_val.numpy())
        return copy

    @classmethod
    def load(
        cls, cfg: DictConfig, datamodule: Any, run_dir: Path, ckpt_path: str | None, *, trust_pickle: bool = False
    ) -> tuple[SklearnEstimator, Path]:
        ckpt = model_file(ckpt_path or run_dir)
        model = load_classical(ckpt, gene_names=datamodule.gene_names, trust_pickle=trust_pickle)  # refuses another gene set
        return cls(cfg, datamodule.gene_names, datamodule.class_names, model=model), ckpt
