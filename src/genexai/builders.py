"""Construction steps shared by training and evaluation: data module, model, attributions."""

from __future__ import annotations

from typing import Any

import hydra
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from genexai.attribution import compute_attributions, importance_table
from genexai.data.datamodule import RNASeqDataModule
from genexai.evaluation.uncertainty import classification_intervals
from genexai.models.classifier import GeneClassifier
from genexai.utils.resources import Usage

__all__ = ["build_datamodule", "build_model", "attribute", "test_intervals", "run_metrics"]


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


def attribute(
    attribution_cfg: DictConfig, model: torch.nn.Module, datamodule: RNASeqDataModule, seed: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-gene importance table of every configured method on the configured split."""
    methods = OmegaConf.to_container(attribution_cfg.methods, resolve=True)
    inputs, labels = datamodule.tensors(attribution_cfg.split)
    attributions, info = compute_attributions(
        model.backbone.cpu().eval(),
        inputs,
        methods,
        target=attribution_cfg.target,
        seed=seed,
        skip_inapplicable=attribution_cfg.skip_inapplicable,
    )
    directions = {label: entry.get("direction") for label, entry in info.items()}
    table = importance_table(
        attributions, labels.numpy(), datamodule.gene_names, datamodule.class_names, inputs=inputs, directions=directions
    )
    return table, info


def test_intervals(cfg: DictConfig, labels: np.ndarray, predicted: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """``test/*_ci_low/high`` and ``test/n_samples`` of the test predictions, as ``cfg.test_ci`` asks.

    Both training paths call this once their model has scored the test split, so a
    Lightning and a classical run report the same intervals; seeded by ``cfg.seed``.
    ``scores`` are class probabilities ``(n, C)`` or a positive-class score ``(n,)``.
    """
    options = cfg.get("test_ci") or {}
    return classification_intervals(
        np.asarray(labels),
        np.asarray(predicted),
        np.asarray(scores),
        prefix="test",
        n_boot=int(options.get("n_bootstrap", 1000)),
        seed=int(cfg.seed),
        level=float(options.get("level", 0.95)),
    )


def run_metrics(
    datamodule: RNASeqDataModule,
    classification: dict[str, float],
    *,
    checkpoint: str,
    epochs: int | None,
    usage: dict[str, Usage | None],
    attribution_info: dict[str, Any],
) -> dict[str, Any]:
    """The ``metrics.json`` record every training path writes (Lightning and classical alike).

    ``usage`` maps a stage (data, train, attribution) to its wall time and peak RSS.
    """
    measured = {stage: u for stage, u in usage.items() if u is not None}
    return {
        **classification,
        "best_checkpoint": checkpoint,
        "epochs": epochs,
        "n_genes": datamodule.n_genes,
        "gene_selection": dict(getattr(datamodule, "selection_info", {})),
        "n_samples": {split: int(len(idx)) for split, idx in datamodule.split_index.items()},
        "class_names": datamodule.class_names,
        "time_s": {stage: u.seconds for stage, u in measured.items()},
        "peak_rss_mib": {stage: u.peak_rss_mib for stage, u in measured.items()},
        "attribution": attribution_info,
    }
