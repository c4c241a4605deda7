"""Repeated stratified K-fold cross-validation of the whole workflow, for small cohorts.

``python train.py data.cv.folds=5 [data.cv.repeats=2]``: the counts are read once; for
every fold (scikit-learn ``RepeatedStratifiedKFold``, seeded by ``seed``) the held-out
part is the test set, ``data.split.val_fraction`` of the rest (per class) is the
validation set for early stopping / checkpoint choice (XGBoost: early stopping), and
everything fitted from data -- gene selection (variance or DE), size factors, scaling,
the model, the DE baseline of ``evaluate=true`` -- sees the fold's training samples
only. Each fold is a complete run directory ``<run dir>/fold_<r>_<k>/`` (same files as
a single run; ``evaluate.py run_dir=<run dir>/fold_<r>_<k>`` works on it).

Resuming: a fold whose ``metrics.json`` exists is skipped, so rerunning the same command
with ``hydra.run.dir=<run dir>`` finishes an interrupted CV. ``data.cv.only_fold=i``
runs one fold (for a multirun over folds writing into one directory).

Before the folds, the run directory gets ``splits.csv``: every sample's test fold per
repeat (``sample, condition, repeat, fold``); each fold directory's own ``splits.csv``
lists its train/val/test samples. After the folds, :func:`genexai.evaluation.cv_summary.summarise_cv` writes the summary files
(``cv_summary.json/.csv``, ``cv_comparison.csv``, ``importance_cv.csv``, ``cv_ensemble.csv``,
``cv_stability.csv``) and the fold means into ``metrics.json``.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import anndata as ad
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf, open_dict

from genexai import tracking
from genexai.data.split import cv_test_folds
from genexai.errors import ConfigError
from genexai.evaluation.cv_summary import summarise_cv
from genexai.evaluation.metrics import planted_de
from genexai.pipeline.build import build_datamodule
from genexai.pipeline.run import run_on_datamodule
from genexai.utils.files import atomic_write, write_json, write_text
from genexai.utils.provenance import write_provenance
from genexai.utils.resources import measure

__all__ = ["train_cv"]

log = logging.getLogger(__name__)

def _fold_config(cfg: DictConfig, fold: int, fold_dir: Path, fold_label: str) -> DictConfig:
    """The config of one fold: same everything, but its own output dir and ``data.fold``."""
    fold_cfg = copy.deepcopy(cfg)
    with open_dict(fold_cfg):
        fold_cfg.paths.output_dir = str(fold_dir)
        fold_cfg.data.fold = fold
        wandb = (fold_cfg.get("logger") or {}).get("wandb")
        if wandb is not None:  # one W&B run per fold, grouped by the CV run
            wandb.name = f"{OmegaConf.select(cfg, 'logger.wandb.name')}_{fold_label}"
            wandb.group = wandb.get("group") or f"cv-{fold_dir.parent.name}"
    return fold_cfg


def _selected_folds(n_folds: int, only_fold: Any) -> list[int]:
    if only_fold is None:
        return list(range(n_folds))
    if isinstance(only_fold, bool) or not isinstance(only_fold, int) or not 0 <= only_fold < n_folds:
        raise ConfigError(f"data.cv.only_fold must be an integer in 0..{n_folds - 1} (folds x repeats), got {only_fold!r}")
    return [only_fold]


def train_cv(cfg: DictConfig, adata: ad.AnnData | None = None) -> dict[str, Any]:
    """Run every (or ``data.cv.only_fold``) CV fold into ``<run dir>/fold_<r>_<k>/`` and summarise them.

    Returns the summary metrics (fold means; ``cv/...`` bookkeeping), also written to
    ``metrics.json`` in the run directory.
    """
    run_dir = Path(cfg.paths.output_dir)
    write_provenance(run_dir, cfg.data)
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    started = time.perf_counter()
    base = build_datamodule(cfg, adata, setup=False)  # reads the counts once
    read_time = time.perf_counter() - started
    folds = base.fold_splits()
    names = [name for name, _ in folds]
    conditions = list(base.adata.obs[base.condition_key].astype(str))
    groups = None if base.group_labels is None else (base.groups, base.group_labels)
    test_folds = cv_test_folds(list(base.adata.obs_names), conditions, folds, base.cv_folds, groups)
    atomic_write(run_dir / "splits.csv", lambda tmp: test_folds.to_csv(tmp, index=False))
    for index in _selected_folds(len(folds), cfg.data.cv.get("only_fold")):
        name = names[index]
        fold_dir = run_dir / name
        if (fold_dir / "metrics.json").is_file():
            log.info("CV %s: metrics.json exists in %s, skipped (delete it to rerun the fold)", name, fold_dir)
            continue
        log.info("CV %s (%d/%d)", name, index + 1, len(folds))
        fold_started = time.perf_counter()
        pl.seed_everything(cfg.seed, workers=True)
        with measure() as data_usage:  # split, gene selection, preprocessing (reading: cv/time_s/read)
            datamodule = base.with_fold(index)
            datamodule.setup()
        try:
            metrics = run_on_datamodule(_fold_config(cfg, index, fold_dir, name), datamodule, data_usage=data_usage).metrics
        finally:
            tracking.finish()  # a W&B run per fold: close it before the next fold opens one
        metrics.setdefault("time_s", {})["fold"] = time.perf_counter() - fold_started
        write_json(fold_dir / "metrics.json", metrics)
    metrics = summarise_cv(
        run_dir, names, ks=list(cfg.comparison.ks), folds=base.cv_folds, repeats=base.cv.get("repeats") or 1,
        truth=planted_de(base.adata.var),
    )
    metrics.update({"cv/time_s/read": read_time, "cv/time_s/total": time.perf_counter() - started})
    write_json(run_dir / "metrics.json", metrics)
    log.info("  wall time of this invocation: %.1f s (reading the counts %.1f s)", metrics["cv/time_s/total"], read_time)
    return metrics
