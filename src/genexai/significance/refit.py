"""Train a fresh copy of the observed model on a data view and attribute it the same way.

The label-permutation null and the decoy run both need "the same training, on other
data". :class:`Recipe` records what the observed run did that is data-dependent — how
long it trained (epochs of the attributed weights; XGBoost's ``best_iteration``) — and
:func:`refit_and_attribute` repeats it with a given seed: same model config and
hyperparameters, same trainer settings (precision, accelerator, gradient clipping, batch
size), same attribution methods on the same split, but for a fixed length, without
checkpoint selection, early stopping, validation or loggers (early stopping on permuted
labels would stop at once, so the null would be trained less than the observed model).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, TensorDataset

from genexai.builders import attribute, build_model
from genexai.callbacks import ReseedEachStep
from genexai.classical import attribute_classical, build_classical, is_classical
from genexai.data.sampling import EpochSeededSampler
from genexai.errors import ConfigError

__all__ = ["Recipe", "derive_seeds", "recipe_from_checkpoint", "recipe_from_classical", "refit_and_attribute"]

log = logging.getLogger(__name__)


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


def recipe_from_checkpoint(checkpoint: str | Path | None, epochs_run: int | None) -> Recipe:
    """Recipe of a Lightning run: epochs of the checkpoint's weights (``epoch + 1``), else ``epochs_run``.

    Lightning stores ``epoch`` = the 0-based epoch during which the checkpoint was written
    (at the end of that training epoch, ``save_on_train_epoch_end``), so its weights have
    seen ``epoch + 1`` epochs. Without a checkpoint the attributed weights are the last
    ones, after ``epochs_run`` epochs.
    """
    if checkpoint and Path(checkpoint).is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "epoch" in state:
            return Recipe(epochs=max(1, int(state["epoch"]) + 1))
    if not epochs_run:
        raise ConfigError(
            f"significance: cannot tell how many epochs the model trained (checkpoint {checkpoint or 'none'} has no "
            "epoch and the run recorded none); null and decoy models must train as long as the observed one"
        )
    return Recipe(epochs=int(epochs_run))


def recipe_from_classical(model: Any) -> Recipe:
    """Recipe of a classical model (its early-stopped XGBoost length, if any)."""
    return Recipe(best_iteration=getattr(model, "best_iteration", None))


def derive_seeds(seed: int, n: int, stream: int) -> list[int]:
    """``n`` independent 32-bit seeds from ``(seed, stream)`` (``numpy.random.SeedSequence``).

    ``stream`` separates uses (0: permutations, 1: decoys), so the null models never share
    a seed with each other or with the observed run.
    """
    children = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(stream),)).spawn(n)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]


@contextlib.contextmanager
def preserved_random_state() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's global RNG state (and Lightning's seed variable) afterwards.

    Null and decoy models are seeded with ``pl.seed_everything``; whatever runs after the
    significance step must not depend on how many of them were trained.
    """
    python_state, numpy_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    seed_var = os.environ.get("PL_GLOBAL_SEED")
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        if seed_var is None:
            os.environ.pop("PL_GLOBAL_SEED", None)
        else:
            os.environ["PL_GLOBAL_SEED"] = seed_var


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Lightning's per-Trainer banners and the 'no val_dataloader' warning, B times over."""
    loggers = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*val_dataloader.*")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def _fit_neural(cfg: DictConfig, view: Any, seed: int, recipe: Recipe) -> torch.nn.Module:
    if not recipe.epochs:
        raise ConfigError("significance: the observed number of training epochs is unknown; cannot train null models")
    pl.seed_everything(seed, workers=True, verbose=False)
    model = build_model(cfg, view)
    x, y = view.tensors("train")
    loader = DataLoader(TensorDataset(x, y), batch_size=view.batch_size, sampler=EpochSeededSampler(len(y), seed))
    with tempfile.TemporaryDirectory(prefix="genexai-null-") as root, _quiet():
        trainer: pl.Trainer = hydra.utils.instantiate(
            cfg.trainer,
            max_epochs=recipe.epochs,
            min_epochs=recipe.epochs,
            max_steps=-1,
            fast_dev_run=False,
            devices=1,  # null models are trained one after another in this process, never with DDP
            strategy="auto",
            num_nodes=1,
            logger=False,
            callbacks=[ReseedEachStep(seed)],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
            default_root_dir=root,
        )
        trainer.fit(model, train_dataloaders=loader)
    return model


def _seed_estimator(estimator: Any, seed: int) -> None:
    params = estimator.get_params(deep=True)
    seeds = {key: seed for key in params if key == "random_state" or key.endswith("__random_state")}
    if seeds:
        estimator.set_params(**seeds)


def _fit_classical(cfg: DictConfig, view: Any, seed: int, recipe: Recipe) -> Any:
    model = build_classical(cfg, view)
    _seed_estimator(model.estimator, seed)
    if model.is_xgboost and getattr(model.estimator, "early_stopping_rounds", None):
        if recipe.best_iteration is None:
            raise ConfigError("significance: the observed XGBoost best_iteration is unknown; cannot train null models")
        model.estimator.set_params(n_estimators=recipe.best_iteration + 1, early_stopping_rounds=None)
    x, y = view.tensors("train")
    x_val, y_val = view.tensors("val") if "val" in view.split_index else (None, None)
    model.fit(x.numpy(), y.numpy(), None if x_val is None else x_val.numpy(), None if y_val is None else y_val.numpy())
    return model


def refit_and_attribute(cfg: DictConfig, view: Any, seed: int, recipe: Recipe) -> pd.DataFrame:
    """Train ``cfg.model`` on ``view`` as the observed run was trained (see :class:`Recipe`); return its importance table.

    The table has the columns of :func:`genexai.attribution.importance_table` for every
    method the observed run used (``cfg.attribution`` for neural models, the model
    config's ``importance_methods`` for classical ones), on ``cfg.attribution.split``.
    """
    if is_classical(cfg.model):
        model = _fit_classical(cfg, view, seed, recipe)
        table, _ = attribute_classical(cfg.attribution, model, view, seed)
        return table
    model = _fit_neural(cfg, view, seed, recipe)
    table, _ = attribute(cfg.attribution, model, view, seed)
    return table
