"""Construction steps shared by training and evaluation: the data module (with its DE method handed in), attributions, run records.

``data/`` knows no statistics: when the gene selection or a truth builder needs a DE
test, :func:`build_datamodule` hands in the one configured in ``${de}`` (engine,
device and cache included), so DE is configured once.
"""

from __future__ import annotations

import inspect
from typing import Any

import anndata as ad
import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from genexai.data.datamodule import DE_SELECTIONS, DESelector, RNASeqDataModule
from genexai.de import build_de_method, select_de_genes
from genexai.de.inputs import contrast_levels
from genexai.pipeline.contrasts import omnibus_fold_change
from genexai.evaluation.uncertainty import classification_intervals
from genexai.utils.resources import Usage

__all__ = ["build_datamodule", "de_selector", "test_intervals", "run_metrics"]


def de_selector(de_method: Any) -> DESelector:
    """DE-based gene selection: ``de_method``'s test (from ``${de}``), then the one selection rule.

    With more than two levels the test is the omnibus across all of them (genes that
    differ between any levels; :func:`~genexai.pipeline.contrasts.omnibus_fold_change`
    gives it the largest per-contrast fold change for the ``|log2FC|`` rule).
    """

    def select(counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str, n_genes: int | str,
               mode: str, alpha: float, lfc_threshold: float, source: str) -> tuple[pd.DataFrame, list[str], bool]:
        if len(contrast_levels(obs, de_method.design or design, ref_level)[2]) > 1:
            tables, cache_hit = de_method.test_contrasts(counts, obs, design=design, ref_level=ref_level)
            table = omnibus_fold_change(tables)
        else:
            table, cache_hit = de_method.test(counts, obs, design=design, ref_level=ref_level)
        chosen = select_de_genes(table, n_genes=n_genes, mode=mode, alpha=alpha, lfc_threshold=lfc_threshold, source=source)
        return table, chosen, cache_hit

    return select


def _takes(target: str, argument: str) -> bool:
    return argument in inspect.signature(hydra.utils.get_method(target)).parameters


def build_datamodule(cfg: DictConfig, adata: ad.AnnData | None = None, *, setup: bool = True) -> RNASeqDataModule:
    """Instantiate the dataset (reading/simulating counts, or ``adata``) and fit preprocessing on its training split.

    A truth builder that takes a ``de_method`` (replicate subsampling) gets ``${de}``'s
    DESeq2; a DE-based gene selection gets :func:`de_selector`.
    """
    if adata is None:
        adata_cfg = cfg.data.adata
        extra = {"de_method": build_de_method(cfg.de, name="deseq2")} if _takes(adata_cfg._target_, "de_method") else {}
        adata = hydra.utils.instantiate(adata_cfg, **extra, _convert_="object")
    selection = str(cfg.data.get("gene_selection", "variance"))
    selector = de_selector(build_de_method(cfg.de, name=selection)) if selection in DE_SELECTIONS else None
    datamodule: RNASeqDataModule = hydra.utils.instantiate(cfg.data, adata=adata, de_selector=selector, _convert_="object")
    if setup:
        datamodule.setup()
    return datamodule


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
