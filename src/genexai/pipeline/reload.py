"""``evaluate.py``: reload a finished training run (config, data split, model) and evaluate it into a new run dir.

The run's saved ``config.yaml`` rebuilds the same data module (same split, same
preprocessing fitted on the same training samples) and the model kind decides nothing
here: :func:`genexai.estimators.estimator_class` picks the adapter that reloads it.
A run directory may come from someone else, so its config is checked before anything
is instantiated (:func:`genexai.utils.targets.load_run_config`) and its model is read
without pickle (``trust_pickle=true`` opens a legacy ``model.joblib``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from genexai.attribution import save_importance_table
from genexai.errors import ConfigError
from genexai.estimators import FitResult, estimator_class
from genexai.pipeline.build import build_datamodule
from genexai.pipeline.contrasts import evaluate_run
from genexai.pipeline.run import null_models
from genexai.significance import (
    assess_significance,
    check_significance_classes,
    check_significance_config,
    significance_method,
)
from genexai.utils.provenance import write_provenance
from genexai.utils.targets import load_run_config

__all__ = ["evaluate"]

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Reload a training run (config, data split, model) and evaluate it into the evaluation run dir."""
    if not cfg.get("run_dir") and not cfg.get("ckpt_path"):
        raise ConfigError("evaluate.py needs run_dir=<training run directory> or ckpt_path=<checkpoint file>")
    run_dir = Path(cfg.run_dir) if cfg.get("run_dir") else Path(cfg.ckpt_path).resolve().parent.parent
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a genexai training run (no config.yaml); pass run_dir= a directory made by train.py")
    train_cfg = load_run_config(run_dir / "config.yaml", trusted=cfg.get("trusted_targets") or ())
    if cfg.get("significance"):  # recomputing q-values on the run's genes: refused when labels chose them
        check_significance_config(OmegaConf.merge(train_cfg, {"significance": cfg.significance}))
    out_dir = Path(cfg.paths.output_dir)
    write_provenance(out_dir, train_cfg.data)
    datamodule = build_datamodule(train_cfg)
    if cfg.get("significance"):
        check_significance_classes(cfg, datamodule.class_names)
    estimator, ckpt = estimator_class(train_cfg.model).load(
        train_cfg, datamodule, run_dir, cfg.get("ckpt_path"), trust_pickle=bool(cfg.get("trust_pickle"))
    )

    if cfg.get("attribution"):
        importance, _ = estimator.attribute(cfg.attribution, datamodule, cfg.seed)
        save_importance_table(importance, out_dir)
    elif (run_dir / "importance.parquet").is_file():
        importance = pd.read_parquet(run_dir / "importance.parquet")
    else:
        raise ConfigError(f"{run_dir} has no importance table; rerun evaluate.py with attribution=default")

    train_metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").is_file() else {}
    # significance=permutation|decoy: (re)compute q-values on the reloaded model; otherwise the
    # run's own q-values (if it was trained with significance) are compared at its alpha.
    significance_alpha = train_cfg.get("significance", {}).get("alpha")
    if significance_method(cfg.get("significance")) != "none":
        run_cfg = OmegaConf.merge(
            train_cfg,
            {"significance": OmegaConf.to_container(cfg.significance, resolve=True)},
            {"attribution": OmegaConf.to_container(cfg.attribution, resolve=True)} if cfg.get("attribution") else {},
        )
        fit = FitResult(checkpoint=str(ckpt), epochs=train_metrics.get("epochs"))  # what the run recorded
        importance, _ = assess_significance(
            run_cfg, datamodule, importance, out_dir, lambda: null_models(run_cfg, estimator, fit)
        )
        save_importance_table(importance, out_dir)
        significance_alpha = cfg.significance.get("alpha")
    metrics = evaluate_run(
        datamodule,
        importance,
        {k: v for k, v in train_metrics.items() if k.startswith("test/")},
        de_cfg=cfg.de,
        comparison_cfg=cfg.comparison,
        out_dir=out_dir,
        model_name=estimator.name,
        model=estimator,
        significance_alpha=significance_alpha,
    )
    log.info("report: %s", metrics["eval/report"])
    return {"run_dir": str(run_dir), "checkpoint": str(ckpt), **metrics}
