"""The training run behind ``train.py``: data → model → fit → test → attributions → run dir."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from genexai import tracking
from genexai.attribution import save_importance_table
from genexai.builders import attribute, build_datamodule, build_model, run_metrics
from genexai.classical import is_classical, train_classical
from genexai.de import check_de_config
from genexai.errors import ConfigError
from genexai.evaluating import evaluate_model
from genexai.utils.instantiate import instantiate_group
from genexai.utils.io import write_json, write_text

__all__ = ["train"]

log = logging.getLogger(__name__)


def _resolve_ckpt(ckpt_path: str | None, run_dir: Path) -> str | None:
    if ckpt_path == "last":
        path = run_dir / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise ConfigError(f"ckpt_path=last: no checkpoint at {path}; pass the path of a previous run's last.ckpt")
        return str(path)
    if ckpt_path is not None and not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path: checkpoint {ckpt_path} not found")
    return ckpt_path


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train, test and attribute one model as configured; return all metrics.

    Writes into the Hydra run directory: ``checkpoints/`` (best + last),
    ``config.yaml`` (resolved), ``importance.csv/.parquet`` and ``metrics.json``.
    """
    run_dir = Path(cfg.paths.output_dir)
    if cfg.get("evaluate"):
        check_de_config(cfg.de)  # fail now, not after training
    pl.seed_everything(cfg.seed, workers=True)
    started = time.perf_counter()
    datamodule = build_datamodule(cfg)
    data_time = time.perf_counter() - started
    loggers = instantiate_group(cfg.get("logger"))
    tracking.log_config(loggers, cfg)
    if is_classical(cfg.model):
        # scikit-learn / XGBoost baselines: no Trainer; same splits, run-dir files and loggers.
        metrics = train_classical(cfg, datamodule, run_dir, loggers, data_time=data_time)[1]
        importance_file = run_dir / "importance.parquet"
        importance = pd.read_parquet(importance_file) if importance_file.is_file() else None
        _track(loggers, run_dir, metrics, importance, metrics.get("best_checkpoint"))
        return metrics
    model = build_model(cfg, datamodule)
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    callbacks = instantiate_group(cfg.get("callbacks"))
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
    importance, attribution_info = None, {}
    if cfg.attribution.methods:
        importance, attribution_info = attribute(cfg.attribution, model, datamodule, cfg.seed)
        save_importance_table(importance, run_dir)
    attribution_time = time.perf_counter() - started

    metrics = run_metrics(
        datamodule,
        {k: float(v) for k, v in {**val_metrics, **test_metrics}.items()},
        checkpoint=best,
        epochs=trainer.current_epoch,
        times={"data": data_time, "train": train_time, "attribution": attribution_time},
        attribution_info=attribution_info,
    )
    if cfg.get("evaluate"):
        if importance is None:
            raise ConfigError("evaluate=true needs attribution methods (attribution=default)")
        classification = {k: v for k, v in metrics.items() if k.startswith("test/")}
        metrics.update(
            evaluate_model(
                datamodule,
                importance,
                classification,
                de_cfg=cfg.de,
                comparison_cfg=cfg.comparison,
                out_dir=run_dir / "evaluation",
                model_name=cfg.model.backbone._target_.rsplit(".", 1)[-1],
            )
        )
    write_json(run_dir / "metrics.json", metrics)
    _track(loggers, run_dir, metrics, importance, best)
    return metrics


def _track(loggers: list, run_dir: Path, metrics: dict, importance: pd.DataFrame | None, checkpoint: str | None) -> None:
    """Send metrics, tables, figures and the checkpoint to the experiment loggers (W&B; no-op otherwise)."""
    tracking.log_results(
        loggers,
        metrics=metrics,
        importance=importance,
        checkpoint=checkpoint or None,
        **tracking.evaluation_outputs(run_dir / "evaluation"),
    )
