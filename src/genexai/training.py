"""The training run behind ``train.py``: data → model → fit → test → attributions → run dir.

With ``data.cv.folds`` set, :func:`train` hands over to :func:`genexai.crossval.train_cv`,
which calls :func:`train_on_datamodule` once per fold.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from genexai import tracking
from genexai.attribution import save_importance_table
from genexai.builders import attribute, build_datamodule, build_model, run_metrics, test_intervals
from genexai.classical import is_classical, train_classical
from genexai.data.datamodule import RNASeqDataModule
from genexai.errors import ConfigError
from genexai.evaluating import check_de_config, evaluate_model, proba_function
from genexai.significance import assess_significance, check_significance_config, recipe_from_checkpoint
from genexai.utils.instantiate import instantiate_group
from genexai.utils.io import atomic_write, write_json, write_text
from genexai.utils.provenance import write_provenance
from genexai.utils.resources import Usage, measure

__all__ = ["train", "train_on_datamodule", "save_gene_selection", "save_splits"]

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
    ``config.yaml`` (resolved), ``provenance.json`` (versions, git commit, data
    hashes), ``splits.csv`` (sample, condition, split), ``importance.csv/.parquet``,
    ``gene_selection.csv`` (DE-based selection) and ``metrics.json``. With
    ``data.cv.folds`` set: one such directory per fold plus the cross-validation summary
    and each sample's test fold (:func:`genexai.crossval.train_cv`).
    """
    check_significance_config(cfg)  # fail now, not after training
    if cfg.data.get("cv") and cfg.data.cv.get("folds") and cfg.data.get("fold") is None:
        from genexai.crossval import train_cv  # late: crossval imports this module

        return train_cv(cfg)
    run_dir = Path(cfg.paths.output_dir)
    if cfg.get("evaluate"):
        check_de_config(cfg.de)  # fail now, not after training
    if rank_zero_only.rank == 0:  # DDP worker processes write nothing of their own
        write_provenance(run_dir, cfg.data)
    pl.seed_everything(cfg.seed, workers=True)
    with measure() as data_usage:
        datamodule = build_datamodule(cfg)
    return train_on_datamodule(cfg, datamodule, data_usage=data_usage)


def save_gene_selection(datamodule: RNASeqDataModule, run_dir: Path) -> None:
    """Write the DE table of a DE-based gene selection (``selected`` column) as ``gene_selection.csv``."""
    table = getattr(datamodule, "selection_de", None)
    if table is not None:
        atomic_write(run_dir / "gene_selection.csv", lambda tmp: table.to_csv(tmp, index_label="gene"))


def save_splits(datamodule: RNASeqDataModule, run_dir: Path) -> None:
    """Write ``splits.csv`` (sample, condition, split): the training samples are the DE baseline's, rerunnable elsewhere."""
    table = datamodule.split_table()
    atomic_write(run_dir / "splits.csv", lambda tmp: table.to_csv(tmp, index=False))


def train_on_datamodule(cfg: DictConfig, datamodule: RNASeqDataModule, *, data_usage: Usage | None) -> dict[str, Any]:
    """Everything after the data: fit, test, attribute, evaluate, write ``cfg.paths.output_dir``; return metrics."""
    run_dir = Path(cfg.paths.output_dir)
    save_gene_selection(datamodule, run_dir)
    if rank_zero_only.rank == 0:  # both paths, Lightning and classical, pass here
        save_splits(datamodule, run_dir)
    loggers = instantiate_group(cfg.get("logger"))
    tracking.log_config(loggers, cfg)
    if is_classical(cfg.model):
        # scikit-learn / XGBoost baselines: no Trainer; same splits, run-dir files and loggers.
        metrics = train_classical(cfg, datamodule, run_dir, loggers, data_usage=data_usage)[1]
        importance_file = run_dir / "importance.parquet"
        importance = pd.read_parquet(importance_file) if importance_file.is_file() else None
        _track(loggers, run_dir, metrics, importance, metrics.get("best_checkpoint"))
        return metrics
    model = build_model(cfg, datamodule)
    if rank_zero_only.rank == 0:
        write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    callbacks = instantiate_group(cfg.get("callbacks"))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    with measure() as train_usage:
        trainer.fit(model, datamodule=datamodule, ckpt_path=_resolve_ckpt(cfg.get("ckpt_path"), run_dir))

    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best and not trainer.fast_dev_run:
        # weights_only: a checkpoint holds tensors and plain hyperparameters, never code.
        state = torch.load(best, map_location="cpu", weights_only=True)
        model.load_state_dict(state["state_dict"])
    val_metrics = trainer.validate(model, datamodule=datamodule, verbose=False)[0]
    test_metrics = trainer.test(model, datamodule=datamodule, verbose=True)[0]
    if not trainer.is_global_zero:
        # DDP: metrics are already reduced across ranks; attribution, evaluation and the
        # run-dir files are rank 0's alone (one copy, one DESeq2 fit).
        return {k: float(v) for k, v in {**val_metrics, **test_metrics}.items()}
    x_test, y_test = datamodule.tensors("test")
    proba = proba_function(model)(x_test.numpy())  # the test step's predictions, again, for the intervals
    intervals = test_intervals(cfg, y_test.numpy(), proba.argmax(axis=1), proba)

    importance, attribution_info = None, {}
    with measure() as attribution_usage:
        if cfg.attribution.methods:
            importance, attribution_info = attribute(cfg.attribution, model, datamodule, cfg.seed)
    with measure() as significance_usage:  # significance=permutation|decoy: pvalue/qvalue columns (retrains models)
        importance, significance_info = assess_significance(
            cfg, datamodule, importance, run_dir, lambda: recipe_from_checkpoint(best, trainer.current_epoch)
        )
    if importance is not None:
        save_importance_table(importance, run_dir)

    metrics = run_metrics(
        datamodule,
        {**{k: float(v) for k, v in {**val_metrics, **test_metrics}.items()}, **intervals},
        checkpoint=best,
        epochs=trainer.current_epoch,
        usage={"data": data_usage, "train": train_usage, "attribution": attribution_usage,
               "significance": significance_usage if significance_info else None},
        attribution_info=attribution_info,
    )
    if significance_info:
        metrics["significance"] = significance_info
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
                model=model,
                significance_alpha=cfg.get("significance", {}).get("alpha"),
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
