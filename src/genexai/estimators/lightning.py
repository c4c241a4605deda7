"""The Lightning adapter: a :class:`~genexai.estimators.nn.classifier.GeneClassifier` (MLP, transformer) as an :class:`Estimator`.

Fitting is ``Trainer.fit`` with the configured callbacks and loggers; the attributed
weights are the best checkpoint's, loaded with ``weights_only=True`` (a checkpoint holds
tensors and plain hyperparameters, never code), and so is a resumed one (``ckpt_path``).
Null and decoy copies train for the observed number of epochs without checkpoint choice,
early stopping or loggers.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, TensorDataset

from genexai.data.sampling import EpochSeededSampler
from genexai.errors import ConfigError
from genexai.estimators.base import Estimator, FitResult, Recipe
from genexai.estimators.nn.callbacks import ReseedEachStep
from genexai.estimators.nn.classifier import GeneClassifier
from genexai.utils.instantiate import instantiate_group

__all__ = ["LightningEstimator", "PREDICT_BATCH"]

log = logging.getLogger(__name__)

#: Samples per forward pass when the model is re-scored (bounds the transformer's attention memory).
PREDICT_BATCH = 64


def _load_weights(ckpt: Path) -> dict[str, Any]:
    """The checkpoint's dict, read with ``weights_only=True``; any unreadable file is one ConfigError."""
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, not a checkpoint, pickled code: all refused the same way
        code = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))  # torch's weights-only refusal
        reason = f"it names {code.group(1)}, code that weights_only=True refuses to run" if code else type(err).__name__
        raise ConfigError(
            f"checkpoint {ckpt} is not a readable PyTorch Lightning checkpoint ({reason}); pass a .ckpt file written by train.py"
        ) from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise ConfigError(f"checkpoint {ckpt} has no model weights (state_dict); pass a .ckpt file written by train.py")
    return state


def _resolve_ckpt(ckpt_path: str | None, run_dir: Path) -> str | None:
    """``ckpt_path=last`` → this run dir's ``last.ckpt``; a path must exist and load with ``weights_only=True``.

    The resumed file may come from someone else: it is read here with ``weights_only=True``
    (a pickle that names code is refused as one ConfigError) before Lightning opens it.
    """
    if ckpt_path is None:
        return None
    path = run_dir / "checkpoints" / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        if ckpt_path == "last":
            raise ConfigError(f"ckpt_path=last: no checkpoint at {path}; pass the path of a previous run's last.ckpt")
        raise ConfigError(f"checkpoint {ckpt_path} not found")
    _load_weights(path)
    return str(path)


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


class LightningEstimator(Estimator):
    """``cfg.model`` (a GeneClassifier config) trained by ``cfg.trainer``."""

    def __init__(self, cfg: DictConfig, gene_names: list[str], class_names: list[str]) -> None:
        super().__init__(cfg, gene_names, class_names)
        self.module: GeneClassifier = hydra.utils.instantiate(
            cfg.model,
            n_genes=len(gene_names),
            n_classes=len(class_names),
            gene_names=self.gene_names,
            class_names=self.class_names,
            _convert_="object",  # plain lists in hparams keep checkpoints loadable with weights_only
        )
        self.name = cfg.model.backbone._target_.rsplit(".", 1)[-1]

    @property
    def explained(self) -> torch.nn.Module:
        return self.module.backbone.cpu().eval()

    def attribute(self, attribution_cfg: DictConfig, datamodule: Any, seed: int) -> tuple[Any, dict[str, Any]]:
        from genexai.attribution import attribute  # late: attribution imports the networks

        return attribute(attribution_cfg, self.explained, datamodule, seed)

    def fit(self, datamodule: Any, run_dir: Path, loggers: list) -> FitResult:
        resume = _resolve_ckpt(self.cfg.get("ckpt_path"), run_dir)
        callbacks = instantiate_group(self.cfg.get("callbacks"))
        trainer: pl.Trainer = hydra.utils.instantiate(self.cfg.trainer, callbacks=callbacks, logger=loggers or False)
        trainer.fit(self.module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best and not trainer.fast_dev_run:
            self.module.load_state_dict(_load_weights(Path(best))["state_dict"])
        return FitResult(checkpoint=best, epochs=trainer.current_epoch, steps=trainer.global_step, is_reporting=trainer.is_global_zero)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        backbone = self.explained
        with torch.no_grad():
            logits = [backbone(batch) for batch in torch.from_numpy(np.asarray(x)).split(PREDICT_BATCH)]
        return torch.cat(logits).double().softmax(dim=-1).numpy()  # float64: rows sum to 1 for log_loss

    def recipe(self, fit: FitResult | None) -> Recipe:
        """Epochs of the checkpoint's weights (``epoch + 1``: Lightning's 0-based epoch it was written in), else all run."""
        checkpoint, epochs_run = (fit.checkpoint, fit.epochs) if fit else (None, None)
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

    def refit(self, view: Any, seed: int, recipe: Recipe) -> LightningEstimator:
        if not recipe.epochs:
            raise ConfigError("significance: the observed number of training epochs is unknown; cannot train null models")
        pl.seed_everything(seed, workers=True, verbose=False)
        copy = LightningEstimator(self.cfg, view.gene_names, view.class_names)
        x, y = view.tensors("train")
        loader = DataLoader(TensorDataset(x, y), batch_size=view.batch_size, sampler=EpochSeededSampler(len(y), seed))
        with tempfile.TemporaryDirectory(prefix="genexai-null-") as root, _quiet():
            trainer: pl.Trainer = hydra.utils.instantiate(
                self.cfg.trainer,
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
            trainer.fit(copy.module, train_dataloaders=loader)
        return copy

    @classmethod
    def load(
        cls, cfg: DictConfig, datamodule: Any, run_dir: Path, ckpt_path: str | None, *, trust_pickle: bool = False
    ) -> tuple[LightningEstimator, Path]:
        """The run's best (else last) checkpoint, or ``ckpt_path``; refuses a checkpoint of another gene set or model.

        Read with ``weights_only=True`` whatever ``trust_pickle`` says: a genexai checkpoint needs nothing else.
        """
        ckpt = _checkpoint(run_dir, ckpt_path)
        estimator = cls(cfg, datamodule.gene_names, datamodule.class_names)
        state = _load_weights(ckpt)
        stored_genes = state.get("hyper_parameters", {}).get("gene_names")
        if stored_genes is not None and list(stored_genes) != datamodule.gene_names:
            raise ConfigError(
                f"checkpoint {ckpt} was trained on a different gene set ({len(stored_genes)} genes) than its run's data "
                f"now yields ({datamodule.n_genes}); was the data file or data root changed?"
            )
        try:
            estimator.module.load_state_dict(state["state_dict"])
        except RuntimeError as err:
            first = str(err).splitlines()[0]
            raise ConfigError(
                f"checkpoint {ckpt} does not fit the run's model {cfg.model.backbone._target_} ({first}); "
                "was it trained with another model or model size? pass that run's run_dir instead"
            ) from None
        return estimator, ckpt


def _checkpoint(run_dir: Path, ckpt_path: str | None) -> Path:
    if ckpt_path:
        if not Path(ckpt_path).is_file():
            raise ConfigError(f"checkpoint {ckpt_path} not found")
        return Path(ckpt_path)
    for name in ("best.ckpt", "last.ckpt"):
        if (run_dir / "checkpoints" / name).is_file():
            return run_dir / "checkpoints" / name
    raise ConfigError(f"no checkpoint in {run_dir}/checkpoints; pass ckpt_path=<file.ckpt>")
