"""The non-Lightning training path: fit a classical model on the DataModule's splits, write the same run dir.

``train.py model=xgboost`` (any ``configs/model/*.yaml`` whose ``_target_`` is
:class:`~genexai.classical.ClassicalModel`) reaches :func:`train_classical` through
``genexai.training.train``. It uses the same data module, splits and preprocessing as
the neural models and writes the same files: ``config.yaml``, ``checkpoints/model.joblib``
(+ ``model.json``), ``importance.csv/.parquet``, ``metrics.json`` (and ``evaluation/``
with ``evaluate=true``), and logs hyperparameters and metrics to the configured loggers.
``splits.csv`` and ``gene_selection.csv`` are written before, for both kinds of model, by
:func:`genexai.training.train_on_datamodule`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

from genexai.attribution import save_importance_table
from genexai.builders import run_metrics, test_intervals
from genexai.classical.importance import attribute_classical
from genexai.classical.model import MODEL_FILE, ClassicalModel
from genexai.errors import ConfigError
from genexai.utils.io import write_json, write_text
from genexai.utils.resources import Usage, measure

__all__ = ["is_classical", "build_classical", "classification_metrics", "train_classical"]

log = logging.getLogger(__name__)


def is_classical(model_cfg: DictConfig | Mapping[str, Any] | None) -> bool:
    """Whether a ``model`` config builds a :class:`ClassicalModel` (rather than a LightningModule)."""
    target = (model_cfg or {}).get("_target_") if isinstance(model_cfg, Mapping | DictConfig) else None
    if not isinstance(target, str):
        return False
    try:
        cls = hydra.utils.get_class(target)
    except Exception:  # an unimportable target is the instantiation step's error to report
        return False
    return isinstance(cls, type) and issubclass(cls, ClassicalModel)


def build_classical(cfg: DictConfig, datamodule: Any) -> ClassicalModel:
    """Instantiate ``cfg.model`` for the genes and classes the data module produced."""
    model = hydra.utils.instantiate(
        cfg.model, gene_names=datamodule.gene_names, class_names=datamodule.class_names, _convert_="object"
    )
    if not isinstance(model, ClassicalModel):
        raise ConfigError(f"model config builds {type(model).__name__}, not a ClassicalModel")
    return model


def classification_metrics(model: ClassicalModel, inputs: Any, labels: Any, prefix: str) -> dict[str, float]:
    """``<prefix>/acc``, ``/auroc``, ``/f1`` (macro), and ``/loss`` (log-loss) when the model has probabilities.

    The same definitions as the Lightning classifier (micro accuracy, one-vs-rest macro
    AUROC, macro F1); AUROC is NaN when the split holds only one class.
    """
    y = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels).astype(np.int64)
    n_classes = len(model.class_names or np.unique(y))
    proba = model.predict_proba(inputs)
    pred = model.predict(inputs)
    metrics = {
        f"{prefix}/acc": float(accuracy_score(y, pred)),
        f"{prefix}/f1": float(f1_score(y, pred, average="macro", labels=list(range(n_classes)), zero_division=0)),
    }
    if len(np.unique(y)) < 2:
        metrics[f"{prefix}/auroc"] = float("nan")
    elif n_classes == 2:
        score = proba[:, 1] if proba is not None else model.decision(inputs, 1)
        metrics[f"{prefix}/auroc"] = float(roc_auc_score(y, score))
    else:
        metrics[f"{prefix}/auroc"] = float(
            roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=list(range(n_classes)))
        )
    if proba is not None:
        metrics[f"{prefix}/loss"] = float(log_loss(y, proba, labels=list(range(n_classes))))
    return metrics


def _log_to(loggers: Sequence[Any], hparams: dict[str, Any], metrics: dict[str, float]) -> None:
    """Send hyperparameters and final metrics to Lightning loggers, as a Trainer would at the end of a run."""
    for logger in loggers:
        logger.log_hyperparams(hparams)
        logger.log_metrics(metrics, step=0)
        logger.save()
        logger.finalize("success")


def train_classical(
    cfg: DictConfig,
    datamodule: Any,
    run_dir: str | Path,
    loggers: Sequence[Any] = (),
    *,
    data_usage: Usage | None = None,
) -> tuple[ClassicalModel, dict[str, Any]]:
    """Fit, test and explain a classical model as configured; write the run dir; return model and metrics.

    Parameters
    ----------
    cfg
        Full training config (``model`` a :class:`ClassicalModel` config; ``attribution``,
        ``seed``, ``evaluate``, ``de`` and ``comparison`` as for the neural models).
        ``attribution=none`` (no methods) skips the importances; otherwise the model
        config's ``importance_methods`` run on ``attribution.split``.
    datamodule
        Set-up :class:`~genexai.data.datamodule.RNASeqDataModule`.
    run_dir
        Output directory (the Hydra run dir).
    loggers
        Lightning loggers (``cfg.logger`` instantiated); each gets ``log_hyperparams``
        and ``log_metrics``.
    data_usage
        Time and peak memory of building the data module, reported in
        ``metrics["time_s"]`` and ``metrics["peak_rss_mib"]``.

    Returns
    -------
    model, metrics
        The fitted model and the dict written to ``metrics.json``: ``val/*`` and
        ``test/*`` (``acc``, ``auroc``, ``f1``, ``loss``; ``acc_ci_low/high``,
        ``auroc_ci_low/high``, ``n_samples``, ``ci_level``), ``best_checkpoint`` (the
        ``.joblib``), ``n_genes``, ``n_samples``, ``class_names``, ``time_s``,
        ``attribution`` (per-method info) and ``eval/*`` with ``evaluate=true``.
    """
    run_dir = Path(run_dir)
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    model = build_classical(cfg, datamodule)
    x_train, y_train = datamodule.tensors("train")
    x_val, y_val = datamodule.tensors("val")
    x_test, y_test = datamodule.tensors("test")

    with measure() as train_usage:
        model.fit(x_train.numpy(), y_train.numpy(), x_val.numpy(), y_val.numpy())
    train_time = train_usage.seconds
    log.info("fitted %s on %d samples x %d genes in %.1fs", model.name, len(y_train), datamodule.n_genes, train_time)
    classification = {
        **classification_metrics(model, x_val, y_val, "val"),
        **classification_metrics(model, x_test, y_test, "test"),
    }
    proba = model.predict_proba(x_test)  # AUROC's score as classification_metrics takes it
    scores = proba if proba is not None else model.decision(x_test, 1)
    classification.update(test_intervals(cfg, y_test.numpy(), model.predict(x_test), scores))
    checkpoint = model.save(run_dir / "checkpoints" / MODEL_FILE)

    importance, attribution_info = None, {}
    with measure() as attribution_usage:
        if cfg.attribution.methods and model.importance_methods:
            importance, attribution_info = attribute_classical(cfg.attribution, model, datamodule, cfg.seed)
        elif model.importance_methods:
            log.info("attribution=none: no gene importances for %s", model.name)
    attribution_time = attribution_usage.seconds
    # significance=permutation|decoy: pvalue/qvalue columns (refits the model on permuted labels / with decoys).
    from genexai.significance import assess_significance, recipe_from_classical  # late: significance imports this package

    with measure() as significance_usage:
        importance, significance_info = assess_significance(cfg, datamodule, importance, run_dir, recipe_from_classical(model))
    if importance is not None:
        save_importance_table(importance, run_dir)

    metrics = run_metrics(
        datamodule,
        classification,
        checkpoint=str(checkpoint),
        epochs=None,
        usage={"data": data_usage, "train": train_usage, "attribution": attribution_usage,
               "significance": significance_usage if significance_info else None},
        attribution_info=attribution_info,
    )
    metrics.update({"best_iteration": model.best_iteration, "model": model.name})
    if significance_info:
        metrics["significance"] = significance_info
    hparams = {
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "seed": cfg.seed,
        "data": cfg.data.get("name"),
        "n_genes": datamodule.n_genes,
        "class_names": datamodule.class_names,
    }
    scalars = {k: v for k, v in classification.items()}
    scalars.update({"time/train_s": train_time, "time/attribution_s": attribution_time})
    if model.best_iteration is not None:
        scalars["best_iteration"] = float(model.best_iteration)
    _log_to(loggers, hparams, scalars)

    if cfg.get("evaluate"):
        if importance is None:
            raise ConfigError("evaluate=true needs gene importances (attribution=default and model.importance_methods)")
        from genexai.evaluating import evaluate_model  # late: evaluating imports this package to reload models

        metrics.update(
            evaluate_model(
                datamodule,
                importance,
                {k: v for k, v in classification.items() if k.startswith("test/")},
                de_cfg=cfg.de,
                comparison_cfg=cfg.comparison,
                out_dir=run_dir / "evaluation",
                model_name=model.name,
                model=model,
                significance_alpha=cfg.get("significance", {}).get("alpha"),
            )
        )
    write_json(run_dir / "metrics.json", metrics)
    return model, metrics
