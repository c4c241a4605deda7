"""The evaluation behind ``evaluate.py``: DESeq2 on the run's training samples, attributions vs DE hits (and truth), report.

:func:`evaluate_model` is the in-process core, also called by ``train.py evaluate=true``
so sweeps can optimise attribution-vs-DE agreement; :func:`evaluate` reloads a finished
training run from its directory.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from genexai.attribution import save_importance_table
from genexai.builders import attribute, build_datamodule, build_model
from genexai.classical import MODEL_FILE, attribute_classical, is_classical, load_classical
from genexai.data.datamodule import RNASeqDataModule
from genexai.de import cached_deseq2
from genexai.errors import ConfigError
from genexai.evaluation import compare_methods, write_report
from genexai.evaluation import plots
from genexai.utils.io import atomic_write

__all__ = ["run_de_baseline", "evaluate_model", "evaluate"]

log = logging.getLogger(__name__)


def _de_genes(datamodule: RNASeqDataModule, which: str) -> list[str]:
    if which == "all":
        return list(datamodule.adata.var_names)
    if which == "expressed":
        return datamodule.preprocessor.expressed_genes
    if which == "model":
        return datamodule.gene_names
    raise ConfigError(f"de.genes must be 'all', 'expressed' or 'model', got {which!r}")


def run_de_baseline(datamodule: RNASeqDataModule, de_cfg: DictConfig) -> tuple[pd.DataFrame, bool]:
    """PyDESeq2 on the raw counts of exactly the training samples the model learned from (cached).

    ``de_cfg.genes`` chooses the genes DESeq2 tests: ``all`` (default, as a DE analysis
    would), ``expressed`` (those passing the training-split expression filter) or
    ``model`` (the model's input genes; fastest, but no DE hits outside the model).
    ``de_cfg.inference`` picks PyDESeq2's ``default`` per-gene fits or the batched
    ``torch`` engine (on ``de_cfg.device``), see :mod:`genexai.de.torch_inference`.
    """
    train = datamodule.raw_counts("train")
    counts = pd.DataFrame(train.X, index=train.obs_names, columns=train.var_names)
    counts = counts[_de_genes(datamodule, de_cfg.get("genes", "all"))]
    return cached_deseq2(
        counts,
        train.obs,
        cache_dir=de_cfg.get("cache_dir"),
        design=de_cfg.get("design") or datamodule.design,
        ref_level=datamodule.class_names[0],
        alpha=de_cfg.alpha,
        lfc_shrink=de_cfg.lfc_shrink,
        n_cpus=de_cfg.n_cpus,
        inference=de_cfg.get("inference", "default"),
        device=de_cfg.get("device", "cpu"),
    )


def evaluate_model(
    datamodule: RNASeqDataModule,
    importance: pd.DataFrame,
    classification_metrics: dict[str, Any],
    *,
    de_cfg: DictConfig,
    comparison_cfg: DictConfig,
    out_dir: Path,
    model_name: str,
) -> dict[str, Any]:
    """Fit the DE baseline, compare every attribution method with it (and the truth), write the report.

    Writes ``de.csv``, ``comparison.csv``/``.json``, figures and ``report.html`` into
    ``out_dir``; returns a flat metrics dict (``eval/auprc_vs_de/<method>`` ...).
    """
    started = time.perf_counter()
    de, cache_hit = run_de_baseline(datamodule, de_cfg)
    de_time = time.perf_counter() - started
    atomic_write(out_dir / "de.csv", lambda tmp: de.to_csv(tmp, index_label="gene"))

    var = datamodule.adata.var
    truth = var["is_de"].astype(bool) if "is_de" in var else None
    truth_lfc = var["true_log2fc"] if "true_log2fc" in var else None
    comparison = compare_methods(
        importance,
        de,
        alpha=comparison_cfg.alpha,
        lfc_threshold=comparison_cfg.lfc_threshold,
        ks=list(comparison_cfg.ks),
        truth=truth,
        truth_log2fc=truth_lfc,
    )
    figures = plots.make_figures(
        out_dir, importance, de, alpha=comparison_cfg.alpha, lfc_threshold=comparison_cfg.lfc_threshold
    )
    report = write_report(
        out_dir,
        dataset=datamodule.name,
        model=model_name,
        classification_metrics=classification_metrics,
        comparison=comparison,
        de=de,
        importance=importance,
        figures=figures,
        extra={"DE cache hit": cache_hit, "DESeq2 time (s)": round(de_time, 2), "training samples": int(len(datamodule.split_index["train"]))},
        alpha=comparison_cfg.alpha,
        lfc_threshold=comparison_cfg.lfc_threshold,
    )
    metrics: dict[str, Any] = {
        "eval/de_cache_hit": cache_hit,
        "eval/de_time_s": de_time,
        "eval/de_samples": sorted(datamodule.raw_counts("train").obs_names),
        "eval/report": str(report),
    }
    for row in comparison.itertuples():
        metrics[f"eval/auprc_vs_{row.reference}/{row.method}"] = float(row.auprc)
    vs_de = comparison.loc[comparison["reference"] == "deseq2", "auprc"]
    metrics["eval/auprc_vs_de/max"] = float(vs_de.max()) if len(vs_de) else float("nan")
    return metrics


def _checkpoint(run_dir: Path, ckpt_path: str | None) -> Path:
    if ckpt_path:
        return Path(ckpt_path)
    for name in ("best.ckpt", "last.ckpt"):
        if (run_dir / "checkpoints" / name).is_file():
            return run_dir / "checkpoints" / name
    raise ConfigError(f"no checkpoint in {run_dir}/checkpoints; pass ckpt_path=<file.ckpt>")


def _load_neural(train_cfg: DictConfig, datamodule: RNASeqDataModule, ckpt: Path) -> torch.nn.Module:
    """Rebuild the Lightning model and load its weights, refusing a checkpoint of another gene set."""
    model = build_model(train_cfg, datamodule)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    stored_genes = state.get("hyper_parameters", {}).get("gene_names")
    if stored_genes is not None and list(stored_genes) != datamodule.gene_names:
        raise ConfigError(
            f"checkpoint {ckpt} was trained on a different gene set ({len(stored_genes)} genes) than its run's data "
            f"now yields ({datamodule.n_genes}); was the data file or data root changed?"
        )
    model.load_state_dict(state["state_dict"])
    return model


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Reload a training run (config, data split, model) and evaluate it into the evaluation run dir."""
    if not cfg.get("run_dir") and not cfg.get("ckpt_path"):
        raise ConfigError("evaluate.py needs run_dir=<training run directory> or ckpt_path=<checkpoint file>")
    run_dir = Path(cfg.run_dir) if cfg.get("run_dir") else Path(cfg.ckpt_path).resolve().parent.parent
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a genexai training run (no config.yaml); pass run_dir= a directory made by train.py")
    train_cfg = OmegaConf.load(run_dir / "config.yaml")
    out_dir = Path(cfg.paths.output_dir)
    datamodule = build_datamodule(train_cfg)

    if is_classical(train_cfg.model):
        ckpt = Path(cfg.ckpt_path) if cfg.get("ckpt_path") else run_dir / "checkpoints" / MODEL_FILE
        model = load_classical(ckpt, gene_names=datamodule.gene_names)  # refuses another gene set
        attribute_model, model_name = attribute_classical, model.name
    else:
        ckpt = _checkpoint(run_dir, cfg.get("ckpt_path"))
        if not ckpt.is_file():
            raise ConfigError(f"checkpoint {ckpt} not found")
        model = _load_neural(train_cfg, datamodule, ckpt)
        attribute_model, model_name = attribute, train_cfg.model.backbone._target_.rsplit(".", 1)[-1]

    if cfg.get("attribution"):
        importance, _ = attribute_model(cfg.attribution, model, datamodule, cfg.seed)
        save_importance_table(importance, out_dir)
    elif (run_dir / "importance.parquet").is_file():
        importance = pd.read_parquet(run_dir / "importance.parquet")
    else:
        raise ConfigError(f"{run_dir} has no importance table; rerun evaluate.py with attribution=default")

    train_metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").is_file() else {}
    metrics = evaluate_model(
        datamodule,
        importance,
        {k: v for k, v in train_metrics.items() if k.startswith("test/")},
        de_cfg=cfg.de,
        comparison_cfg=cfg.comparison,
        out_dir=out_dir,
        model_name=model_name,
    )
    log.info("report: %s", metrics["eval/report"])
    return {"run_dir": str(run_dir), "checkpoint": str(ckpt), **metrics}
