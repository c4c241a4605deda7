"""The training run behind ``train.py``: data → model → fit → test → attributions → run dir."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from genexai.data.datamodule import RNASeqDataModule
from genexai.errors import AttributionError, ConfigError
from genexai.models.classifier import GeneClassifier
from genexai.utils.instantiate import instantiate_group
from genexai.utils.io import write_json, write_text

__all__ = ["train", "build_datamodule", "build_model"]

log = logging.getLogger(__name__)


def build_datamodule(cfg: DictConfig) -> RNASeqDataModule:
    """Instantiate the dataset (reading/simulating counts) and fit preprocessing on its training split."""
    datamodule: RNASeqDataModule = hydra.utils.instantiate(cfg.data, _convert_="object")
    datamodule.setup()
    return datamodule


def build_model(cfg: DictConfig, datamodule: RNASeqDataModule) -> GeneClassifier:
    """Instantiate the model for the genes and classes the data module produced."""
    return hydra.utils.instantiate(
        cfg.model,
        n_genes=datamodule.n_genes,
        n_classes=datamodule.n_classes,
        gene_names=datamodule.gene_names,
        class_names=datamodule.class_names,
        _convert_="object",  # plain lists in hparams keep checkpoints loadable with weights_only
    )


def _resolve_ckpt(ckpt_path: str | None, run_dir: Path) -> str | None:
    if ckpt_path == "last":
        path = run_dir / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise ConfigError(f"ckpt_path=last: no checkpoint at {path}; pass the path of a previous run's last.ckpt")
        return str(path)
    if ckpt_path is not None and not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path: checkpoint {ckpt_path} not found")
    return ckpt_path


def _attribute(cfg: DictConfig, model: GeneClassifier, datamodule: RNASeqDataModule, run_dir: Path) -> dict[str, Any]:
    """Per-gene importance of every configured method on the configured split; saved in the run dir."""
    from genexai.attribution import compute_attributions, importance_table, save_importance_table

    methods = OmegaConf.to_container(cfg.attribution.methods, resolve=True)
    if not methods:
        return {}
    inputs, labels = datamodule.tensors(cfg.attribution.split)
    model = model.cpu().eval()
    attributions, info = compute_attributions(
        model.backbone,
        inputs,
        methods,
        target=cfg.attribution.target,
        seed=cfg.seed,
        skip_inapplicable=cfg.attribution.skip_inapplicable,
    )
    if not attributions:
        raise AttributionError(f"none of the attribution methods {[m['name'] for m in methods]} applies to this model")
    table = importance_table(attributions, labels.numpy(), datamodule.gene_names, datamodule.class_names)
    save_importance_table(table, run_dir)
    return info


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train, test and attribute one model as configured; return all metrics.

    Writes into the Hydra run directory: ``checkpoints/`` (best + last),
    ``config.yaml`` (resolved), ``importance.csv/.parquet`` and ``metrics.json``.
    """
    run_dir = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    started = time.perf_counter()
    datamodule = build_datamodule(cfg)
    data_time = time.perf_counter() - started
    model = build_model(cfg, datamodule)
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=_resolve_ckpt(cfg.get("ckpt_path"), run_dir))
    train_time = time.perf_counter() - started

    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best and not trainer.fast_dev_run:
        # weights_only: a checkpoint holds tensors and plain hyperparameters, never code.
        state = torch.load(best, map_location="cpu", weights_only=True)
        model.load_state_dict(state["state_dict"])
    val_metrics = trainer.validate(model, datamodule=datamodule, verbose=False)[0]
    test_metrics = trainer.test(model, datamodule=datamodule, verbose=True)[0]

    started = time.perf_counter()
    attribution_info = _attribute(cfg, model, datamodule, run_dir)
    attribution_time = time.perf_counter() - started

    metrics: dict[str, Any] = {
        **{k: float(v) for k, v in {**val_metrics, **test_metrics}.items()},
        "best_checkpoint": best,
        "epochs": trainer.current_epoch,
        "n_genes": datamodule.n_genes,
        "n_samples": {split: int(len(idx)) for split, idx in datamodule.split_index.items()},
        "class_names": datamodule.class_names,
        "time_s": {"data": data_time, "train": train_time, "attribution": attribution_time},
        "attribution": attribution_info,
    }
    write_json(run_dir / "metrics.json", metrics)
    return metrics
