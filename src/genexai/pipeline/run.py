"""One run as a straight line: fit → test metrics → attribute → significance → DE baseline → compare → write → track.

:func:`run_on_datamodule` is everything after the data module; :func:`genexai.pipeline.train.train`
builds that and hands over, once per run or once per cross-validation fold. The model
kind is decided once, by :func:`genexai.estimators.build_estimator`; from here on every
step talks to the :class:`~genexai.estimators.Estimator` interface.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from genexai import tracking
from genexai.attribution import save_importance_table
from genexai.data.datamodule import RNASeqDataModule
from genexai.errors import ConfigError
from genexai.estimators import Estimator, FitResult, build_estimator
from genexai.evaluation.classification import classification_metrics
from genexai.pipeline.build import run_metrics, test_intervals
from genexai.pipeline.contrasts import evaluate_run
from genexai.pipeline.outputs import log_final_metrics, save_gene_selection, save_splits
from genexai.significance import Refitter, assess_significance, check_significance_classes
from genexai.utils.files import write_json, write_text
from genexai.utils.instantiate import instantiate_group
from genexai.utils.resources import Usage, measure

__all__ = ["RunOutcome", "null_models", "run_on_datamodule", "split_metrics"]

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    """What one run produced, in memory (the same as its run directory holds on disk)."""

    metrics: dict[str, Any]
    estimator: Estimator
    datamodule: RNASeqDataModule
    run_dir: Path
    importance: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def split_metrics(estimator: Estimator, datamodule: RNASeqDataModule, split: str) -> dict[str, float]:
    """``<split>/acc, auroc, f1, loss`` of the fitted estimator (one implementation for every kind)."""
    x, y = datamodule.tensors(split)
    x = x.numpy()
    return classification_metrics(
        y.numpy(), estimator.predict(x), estimator.scores(x), datamodule.n_classes, split,
        has_proba=estimator.has_proba, class_names=datamodule.class_names,
    )  # fmt: skip


def null_models(cfg: DictConfig, estimator: Estimator, fit: FitResult | None) -> tuple[Refitter, dict[str, Any]]:
    """Null and decoy models: fresh copies of the estimator, trained as long as it was, attributed the same way."""
    recipe = estimator.recipe(fit)

    def refit_and_attribute(view: RNASeqDataModule, seed: int) -> pd.DataFrame:
        return estimator.refit(view, seed, recipe).attribute(cfg.attribution, view, seed)[0]

    return refit_and_attribute, recipe.as_dict()


def run_on_datamodule(
    cfg: DictConfig, datamodule: RNASeqDataModule, *, data_usage: Usage | None = None, loggers: list | None = None
) -> RunOutcome:
    """Everything after the data: fit, test, attribute, evaluate, write ``cfg.paths.output_dir``; return the outcome."""
    check_significance_classes(cfg, datamodule.class_names)  # fail now, not after training
    run_dir = Path(cfg.paths.output_dir)
    reporting = rank_zero_only.rank == 0  # DDP worker processes write nothing of their own
    save_gene_selection(datamodule, run_dir)
    if reporting:
        save_splits(datamodule, run_dir)
    loggers = instantiate_group(cfg.get("logger")) if loggers is None else loggers
    tracking.log_config(loggers, cfg)
    estimator = build_estimator(cfg, datamodule)
    if reporting:
        write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    with measure() as train_usage:
        fit = estimator.fit(datamodule, run_dir, loggers)
    if not fit.is_reporting:  # DDP: attribution, evaluation and the run-dir files are rank 0's alone
        return RunOutcome({}, estimator, datamodule, run_dir)
    log.info("fitted %s in %.1f s", estimator.name, train_usage.seconds)
    classification = {**split_metrics(estimator, datamodule, "val"), **split_metrics(estimator, datamodule, "test")}
    x_test, y_test = datamodule.tensors("test")
    classification.update(test_intervals(cfg, y_test.numpy(), estimator.predict(x_test.numpy()), estimator.scores(x_test.numpy())))

    importance, attribution_info = None, {}
    with measure() as attribution_usage:
        if cfg.attribution.methods:
            importance, attribution_info = estimator.attribute(cfg.attribution, datamodule, cfg.seed)
    with measure() as significance_usage:  # significance=permutation|decoy: pvalue/qvalue columns (retrains models)
        importance, significance_info = assess_significance(
            cfg, datamodule, importance, run_dir, lambda: null_models(cfg, estimator, fit)
        )
    if importance is not None:
        save_importance_table(importance, run_dir)
    log_final_metrics(loggers, {**classification, "time/train_s": train_usage.seconds,
                                "time/attribution_s": attribution_usage.seconds}, fit)

    metrics = run_metrics(
        datamodule,
        classification,
        checkpoint=fit.checkpoint,
        epochs=fit.epochs,
        usage={"data": data_usage, "train": train_usage, "attribution": attribution_usage,
               "significance": significance_usage if significance_info else None},
        attribution_info=attribution_info,
    )
    metrics.update(fit.extra_metrics)
    if significance_info:
        metrics["significance"] = significance_info
    if cfg.get("evaluate"):
        if importance is None:
            raise ConfigError("evaluate=true needs gene importances (attribution=default and, for a classical model, model.importance_methods)")
        metrics.update(
            evaluate_run(
                datamodule,
                importance,
                {k: v for k, v in metrics.items() if k.startswith("test/")},
                de_cfg=cfg.de,
                comparison_cfg=cfg.comparison,
                out_dir=run_dir / "evaluation",
                model_name=estimator.name,
                model=estimator,
                significance_alpha=cfg.get("significance", {}).get("alpha"),
            )
        )
    write_json(run_dir / "metrics.json", metrics)
    tracking.log_results(
        loggers,
        metrics=metrics,
        importance=importance,
        checkpoint=fit.checkpoint or None,
        **tracking.evaluation_outputs(run_dir / "evaluation"),
    )
    return RunOutcome(metrics, estimator, datamodule, run_dir, importance)
