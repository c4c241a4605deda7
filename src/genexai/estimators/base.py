"""The one interface every model kind presents to the pipeline: fit, predict_proba, save/load, refit.

Modelled on PyDESeq2's ``Inference`` ABC: the pipeline is written once against
:class:`Estimator`; a Lightning network (:mod:`genexai.estimators.lightning`) and a
scikit-learn / XGBoost model (:mod:`genexai.estimators.sklearn_adapter`) implement it.
Attribution methods live in :mod:`genexai.attribution` (Captum-shaped, over
:attr:`Estimator.explained`); :meth:`Estimator.attribute` says which of them apply.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

__all__ = ["Estimator", "FitResult", "Recipe"]


@dataclass(frozen=True)
class Recipe:
    """The data-dependent part of the observed training, repeated for null and decoy models.

    Attributes
    ----------
    epochs
        Neural models: epochs behind the attributed weights (the best checkpoint's epoch
        + 1, or every epoch run when no checkpoint was kept).
    best_iteration
        Early-stopped XGBoost: index of the last tree used; copies get ``best_iteration + 1``
        trees and no early stopping.
    """

    epochs: int | None = None
    best_iteration: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "best_iteration": self.best_iteration}


@dataclass
class FitResult:
    """What fitting left behind: the checkpoint, how long it trained, and whether this process reports.

    ``is_reporting`` is False on DDP worker ranks: they train, and rank 0 alone
    attributes, evaluates and writes the run directory.
    """

    checkpoint: str
    epochs: int | None = None
    best_iteration: int | None = None
    steps: int = 0
    is_reporting: bool = True
    extra_metrics: dict[str, Any] = field(default_factory=dict)


class Estimator(ABC):
    """A classifier of samples from standardised expression ``(n, genes)``, fitted on a data module's splits.

    Parameters
    ----------
    cfg
        The full run config (``model``, ``trainer``, ``seed``, ``ckpt_path`` as each kind needs).
    gene_names, class_names
        The genes and classes the data module produced; a reloaded model is refused on
        another gene set.
    """

    #: Short name in reports and ``metrics.json`` (``MLP``, ``RandomForestClassifier``).
    name: str

    def __init__(self, cfg: DictConfig, gene_names: Sequence[str], class_names: Sequence[str]) -> None:
        self.cfg = cfg
        self.gene_names = list(gene_names)
        self.class_names = list(class_names)

    @abstractmethod
    def fit(self, datamodule: Any, run_dir: Path, loggers: list) -> FitResult:
        """Fit on ``datamodule``'s training split (validation for checkpoint choice / early stopping)."""

    @abstractmethod
    def predict_proba(self, x: np.ndarray) -> np.ndarray | None:
        """Class probabilities ``(n, C)`` in float64, or ``None`` for a model without them (uncalibrated SVM)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class index per sample (the most probable class)."""
        return self.scores(x).argmax(axis=1)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """What AUROC ranks by: class probabilities, else the model's positive-class decision score."""
        proba = self.predict_proba(x)
        if proba is None:
            raise NotImplementedError(f"{self.name} has no class probabilities")
        return proba

    @property
    def has_proba(self) -> bool:
        """Whether :meth:`predict_proba` answers (an SVM without Platt scaling does not)."""
        return True

    @property
    @abstractmethod
    def explained(self) -> Any:
        """What attribution methods explain: a torch module ``x → logits`` or the fitted classical model."""

    @abstractmethod
    def attribute(self, attribution_cfg: DictConfig, datamodule: Any, seed: int) -> tuple[Any, dict[str, Any]]:
        """Per-gene importance table (``None`` if this model has no methods configured) and per-method info.

        Networks run the run's ``attribution.methods``; classical models their config's
        ``importance_methods`` (both from the one package :mod:`genexai.attribution`).
        """

    @abstractmethod
    def recipe(self, fit: FitResult | None) -> Recipe:
        """How long the observed model trained, for null and decoy models to repeat."""

    @abstractmethod
    def refit(self, view: Any, seed: int, recipe: Recipe) -> Estimator:
        """A fresh copy trained on ``view`` for the recipe's fixed length, seeded, without loggers or checkpoints."""

    @classmethod
    @abstractmethod
    def load(
        cls, cfg: DictConfig, datamodule: Any, run_dir: Path, ckpt_path: str | None, *, trust_pickle: bool = False
    ) -> tuple[Estimator, Path]:
        """Rebuild a trained model from its run directory (refusing another gene set); return it and its file.

        A run directory may come from someone else, so nothing is unpickled unless
        ``trust_pickle`` (a classical model saved by an older genexai as ``model.joblib``).
        """
