"""The evaluation behind ``evaluate.py``: a DE baseline (DESeq2 or Wilcoxon) on the run's training samples, attributions vs its hits (and truth), faithfulness, report.

:func:`evaluate_model` is the in-process core, also called by ``train.py evaluate=true``
so sweeps can optimise attribution-vs-DE agreement; :func:`evaluate` reloads a finished
training run from its directory. :func:`proba_function` is the one place that knows how
each kind of model (Lightning or classical) scores inputs, for the deletion curves.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from genexai.attribution import save_importance_table
from genexai.builders import attribute, build_datamodule, build_model
from genexai.classical import MODEL_FILE, ClassicalModel, attribute_classical, is_classical, load_classical
from genexai.data.datamodule import RNASeqDataModule
from genexai.de import check_de_config as check_de_engine
from genexai.de import run_de
from genexai.errors import ConfigError
from genexai.evaluation import compare_methods, write_report
from genexai.evaluation.compare import de_label
from genexai.evaluation import plots
from genexai.evaluation.faithfulness import ProbaFn, faithfulness, rankings_from_importance
from genexai.evaluation.metrics import planted_de
from genexai.significance import (
    assess_significance,
    check_significance_config,
    has_significance,
    recipe_from_checkpoint,
    recipe_from_classical,
    significance_calls,
    significance_method,
    significance_metrics,
)
from genexai.utils.io import atomic_write
from genexai.utils.provenance import write_provenance
from genexai.utils.resources import measure

__all__ = ["check_de_config", "de_gene_sets", "run_de_baseline", "proba_function", "run_faithfulness", "evaluate_model", "evaluate"]

log = logging.getLogger(__name__)


DE_GENE_SETS = ("all", "expressed", "model")
#: Test samples per forward pass when a Lightning model is re-scored (bounds the transformer's attention memory).
PREDICT_BATCH = 64


def check_de_config(de_cfg: DictConfig) -> None:
    """Refuse a bad DE option (gene set, inference engine, device) before any training, not after it."""
    check_de_engine(de_cfg)
    which = de_cfg.get("genes", "all")
    if which not in DE_GENE_SETS:
        raise ConfigError(f"de.genes must be one of {list(DE_GENE_SETS)}, got {which!r}")


def de_gene_sets(datamodule: RNASeqDataModule, which: str) -> tuple[list[str], list[str] | None]:
    """Genes the DE baseline is fitted on, and the rows of its table kept (``None``: every row).

    The fit always names a whole universe (METHODS.md, "DE fit"): subsetting the counts to
    the model's genes, often chosen for being DE, would change the size factors, DESeq2's
    dispersion trend and prior, and the BH universe. So ``model`` reuses the fit of
    ``expressed`` (the training split's expression filter) and keeps the model's rows;
    their ``padj`` is that fit's, BH over the expressed genes. Model genes outside the
    expression filter (DE selection on ``data.de_selection.genes=all`` or on all samples)
    are added to the fit, in data order, and logged.
    """
    if which == "all":
        return list(datamodule.adata.var_names), None
    expressed = datamodule.preprocessor.expressed_genes
    if which == "expressed":
        return list(expressed), None
    model = datamodule.gene_names
    outside = set(model) - set(expressed)
    if not outside:
        return list(expressed), model
    log.info("de.genes=model: %d model genes fail the expression filter; DE fitted on expressed + those", len(outside))
    fitted = set(expressed) | outside
    return [gene for gene in datamodule.adata.var_names if gene in fitted], model


def run_de_baseline(datamodule: RNASeqDataModule, de_cfg: DictConfig) -> tuple[pd.DataFrame, bool]:
    """The DE baseline on the raw counts of exactly the training samples the model learned from.

    ``de_cfg.name`` picks the test: ``deseq2`` (PyDESeq2, cached) or ``wilcoxon``
    (rank-sum on size-factor-normalised counts, BH). ``de_cfg.genes`` chooses the genes:
    ``all`` (default, as a DE analysis would) and ``expressed`` (those passing the
    training-split expression filter; with ``data.gene_selection=deseq2`` this is the
    selection's own fit, so a cache hit) are fitted on what they name; ``model`` keeps
    the model's input genes of the ``expressed`` fit (same p-values and padj, no DE
    hits outside the model), see :func:`de_gene_sets`.
    ``de_cfg.inference`` picks PyDESeq2's ``default`` per-gene fits or the batched
    ``torch`` engine (on ``de_cfg.device``), see :mod:`genexai.de.torch_inference`.
    """
    check_de_config(de_cfg)
    train = datamodule.raw_counts("train")
    counts = pd.DataFrame(train.X, index=train.obs_names, columns=train.var_names)
    fitted, kept = de_gene_sets(datamodule, de_cfg.get("genes", "all"))
    table, cache_hit = run_de(
        de_cfg.get("name", "deseq2"),
        counts[fitted],
        train.obs,
        cache_dir=de_cfg.get("cache_dir"),
        design=de_cfg.get("design") or datamodule.design,
        ref_level=datamodule.class_names[0],
        alpha=de_cfg.alpha,
        lfc_shrink=de_cfg.get("lfc_shrink", False),
        n_cpus=de_cfg.get("n_cpus", 1),
        pseudocount=de_cfg.get("pseudocount", 1.0),
        inference=de_cfg.get("inference", "default"),
        device=de_cfg.get("device", "cpu"),
    )
    return (table if kept is None else table.loc[kept]), cache_hit


def proba_function(model: ClassicalModel | torch.nn.Module) -> ProbaFn | None:
    """Standardised inputs → class probabilities, for either kind of model; ``None`` if it has no probabilities.

    A classical model answers with its own ``predict_proba`` (an SVM without Platt
    scaling has none); a Lightning model's backbone runs on the CPU in eval mode, in
    batches of :data:`PREDICT_BATCH`, and its logits go through a softmax.
    """
    if isinstance(model, ClassicalModel):
        return model.predict_proba if model.has_proba else None
    backbone = model.backbone.cpu().eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = [backbone(batch) for batch in torch.from_numpy(x).split(PREDICT_BATCH)]
        return torch.cat(logits).double().softmax(dim=-1).numpy()  # float64: rows sum to 1 for log_loss

    return predict


def run_faithfulness(
    model: ClassicalModel | torch.nn.Module, datamodule: RNASeqDataModule, importance: pd.DataFrame, cfg: DictConfig
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Deletion curves and faithfulness summary of every method's ranking on the test split (``comparison.faithfulness``).

    Deleted genes take their mean over the training samples' model inputs (0 up to
    rounding, as the preprocessing standardises on the training split). ``None`` when
    the model has no class probabilities to re-score.
    """
    predict = proba_function(model)
    if predict is None:
        log.info("faithfulness skipped: %s has no class probabilities", getattr(model, "name", type(model).__name__))
        return None
    x_test, y_test = datamodule.tensors("test")
    fill = datamodule.tensors("train")[0].mean(dim=0)
    return faithfulness(
        predict,
        x_test.numpy(),
        y_test.numpy(),
        rankings_from_importance(importance, datamodule.gene_names),
        fill.numpy(),
        k_max=int(cfg.k_max),
        n_points=int(cfg.n_points),
        n_random=int(cfg.n_random),
        seed=int(cfg.seed),
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
    model: ClassicalModel | torch.nn.Module,
    significance_alpha: float | None = None,
) -> dict[str, Any]:
    """Fit the DE baseline, compare every attribution method with it (and the truth), measure faithfulness, write the report.

    Writes ``de.csv``, ``comparison.csv``/``.json``, ``faithfulness.csv``, figures and
    ``report.html`` into ``out_dir``. ``model`` (the fitted classifier) is re-scored on
    test samples with each method's top genes deleted (``comparison_cfg.faithfulness``;
    :mod:`genexai.evaluation.faithfulness`): the ``faithfulness_*`` columns of every row
    of a method, ``eval/faithfulness_<auroc|logloss>/<method>`` and
    ``eval/faithfulness_time_s``. Returns a flat metrics dict: ``eval/auprc_vs_<reference>/<method>``
    (reference = ``deseq2``/``wilcoxon``/``truth``), ``eval/auprc_vs_de/max``,
    ``eval/spearman_neglog10p_vs_<baseline>/<method>`` and ``eval/jaccard@<k>_vs_<baseline>/<method>``
    (rank agreement inside the model's genes, the informative numbers when those genes
    were DE-selected), and on data with a truth ``eval/<baseline>/realised_fdr``,
    ``/power``, ``/n_calls``. When the
    importance table has q-values (``significance=permutation|decoy``), also compares the
    genes at ``qvalue < significance_alpha`` with DESeq2's ``padj < significance_alpha``
    (default: ``comparison_cfg.alpha``) into ``significance.csv``, a report section and
    ``eval/significance/<method>/<n_called|fdp|power|...>``.
    """
    de_name = de_cfg.get("name", "deseq2")
    with measure() as de_usage:
        de, cache_hit = run_de_baseline(datamodule, de_cfg)
    de_time = de_usage.seconds
    atomic_write(out_dir / "de.csv", lambda tmp: de.to_csv(tmp, index_label="gene"))

    var = datamodule.adata.var
    truth = planted_de(var)
    truth_lfc = var["true_log2fc"] if "true_log2fc" in var else None
    comparison = compare_methods(
        importance,
        de,
        alpha=comparison_cfg.alpha,
        lfc_threshold=comparison_cfg.lfc_threshold,
        ks=list(comparison_cfg.ks),
        truth=truth,
        truth_log2fc=truth_lfc,
        de_name=de_name,
        n_bootstrap=int(comparison_cfg.get("n_bootstrap", 200)),
        seed=int(comparison_cfg.get("bootstrap_seed", 0)),
        level=float(comparison_cfg.get("ci_level", 0.95)),
    )
    faith_cfg = comparison_cfg.get("faithfulness")
    deletion = None
    with measure() as faith_usage:
        if faith_cfg is not None and faith_cfg.get("enabled", False):
            deletion = run_faithfulness(model, datamodule, importance, faith_cfg)
    if deletion is not None:
        curves, faith_summary = deletion
        comparison = comparison.join(faith_summary, on="method")  # reference-independent: every row of a method
        atomic_write(out_dir / "faithfulness.csv", lambda tmp: curves.to_csv(tmp, index=False))
    calls = None
    if has_significance(importance):
        alpha = comparison_cfg.alpha if significance_alpha is None else significance_alpha
        calls = significance_calls(importance, de, alpha=float(alpha), truth=truth)
        atomic_write(out_dir / "significance.csv", lambda tmp: calls.to_csv(tmp, index=False))
    figures = plots.make_figures(
        out_dir, importance, de, alpha=comparison_cfg.alpha, lfc_threshold=comparison_cfg.lfc_threshold,
        de_label=de_label(de_name),
    )
    if deletion is not None:
        figures["deletion_curves"] = plots.deletion_curves(curves, out_dir / "deletion_curves.png")
    report = write_report(
        out_dir,
        dataset=datamodule.name,
        model=model_name,
        classification_metrics=classification_metrics,
        comparison=comparison,
        de=de,
        importance=importance,
        figures=figures,
        extra={
            "DE baseline": de_label(de_name),
            "DE cache hit": cache_hit,
            "DE time (s)": round(de_time, 2),
            "faithfulness time (s)": round(faith_usage.seconds, 2),
            "training samples": int(len(datamodule.split_index["train"])),
            "gene selection": getattr(datamodule, "selection_info", {"method": "variance"}),
        },
        alpha=comparison_cfg.alpha,
        lfc_threshold=comparison_cfg.lfc_threshold,
        de_name=de_name,
        significance=calls,
        faithfulness=None if deletion is None else faith_summary,
    )
    metrics: dict[str, Any] = {
        "eval/de_baseline": de_name,
        "eval/de_cache_hit": cache_hit,
        "eval/de_time_s": de_time,
        "eval/de_peak_rss_mib": de_usage.peak_rss_mib,
        "eval/de_samples": sorted(datamodule.raw_counts("train").obs_names),
        "eval/report": str(report),
        "eval/faithfulness_time_s": faith_usage.seconds,
    }
    if deletion is not None:
        for method, row in faith_summary.iterrows():
            metrics[f"eval/faithfulness_auroc/{method}"] = float(row["faithfulness_auroc"])
            metrics[f"eval/faithfulness_logloss/{method}"] = float(row["faithfulness_logloss"])
    for row in comparison.to_dict("records"):
        metrics[f"eval/auprc_vs_{row['reference']}/{row['method']}"] = float(row["auprc"])
        if row["reference"] == de_name:
            metrics[f"eval/spearman_neglog10p_vs_{de_name}/{row['method']}"] = float(row["spearman_neglog10p"])
            for k in comparison_cfg.ks:
                metrics[f"eval/jaccard@{k}_vs_{de_name}/{row['method']}"] = float(row[f"jaccard@{k}"])
        if row["method"] == de_name and pd.notna(row.get("realised_fdr")):
            for key in ("realised_fdr", "power", "n_calls"):
                metrics[f"eval/{de_name}/{key}"] = float(row[key])
    vs_de = comparison.loc[comparison["reference"] == de_name, "auprc"]
    metrics["eval/auprc_vs_de/max"] = float(vs_de.max()) if len(vs_de) else float("nan")
    if calls is not None:
        metrics.update(significance_metrics(calls))
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
    try:  # weights_only: a checkpoint holds tensors and plain hyperparameters, never code to run
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated file, not a checkpoint, pickled code: all refused the same way
        raise ConfigError(
            f"checkpoint {ckpt} is not a readable PyTorch Lightning checkpoint ({type(err).__name__}); "
            "pass a .ckpt file written by train.py"
        ) from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise ConfigError(f"checkpoint {ckpt} has no model weights (state_dict); pass a .ckpt file written by train.py")
    stored_genes = state.get("hyper_parameters", {}).get("gene_names")
    if stored_genes is not None and list(stored_genes) != datamodule.gene_names:
        raise ConfigError(
            f"checkpoint {ckpt} was trained on a different gene set ({len(stored_genes)} genes) than its run's data "
            f"now yields ({datamodule.n_genes}); was the data file or data root changed?"
        )
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise ConfigError(
            f"checkpoint {ckpt} does not fit the run's model {train_cfg.model.backbone._target_} ({first}); "
            "was it trained with another model or model size? pass that run's run_dir instead"
        ) from None
    return model


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Reload a training run (config, data split, model) and evaluate it into the evaluation run dir."""
    if not cfg.get("run_dir") and not cfg.get("ckpt_path"):
        raise ConfigError("evaluate.py needs run_dir=<training run directory> or ckpt_path=<checkpoint file>")
    run_dir = Path(cfg.run_dir) if cfg.get("run_dir") else Path(cfg.ckpt_path).resolve().parent.parent
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a genexai training run (no config.yaml); pass run_dir= a directory made by train.py")
    train_cfg = OmegaConf.load(run_dir / "config.yaml")
    if cfg.get("significance"):  # recomputing q-values on the run's genes: refused when labels chose them
        check_significance_config(OmegaConf.merge(train_cfg, {"significance": cfg.significance}))
    out_dir = Path(cfg.paths.output_dir)
    write_provenance(out_dir, train_cfg.data)
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
    # significance=permutation|decoy: (re)compute q-values on the reloaded model; otherwise the
    # run's own q-values (if it was trained with significance) are compared at its alpha.
    significance_alpha = train_cfg.get("significance", {}).get("alpha")
    if significance_method(cfg.get("significance")) != "none":
        run_cfg = OmegaConf.merge(
            train_cfg,
            {"significance": OmegaConf.to_container(cfg.significance, resolve=True)},
            {"attribution": OmegaConf.to_container(cfg.attribution, resolve=True)} if cfg.get("attribution") else {},
        )
        recipe = (
            recipe_from_classical(model) if is_classical(train_cfg.model)
            else lambda: recipe_from_checkpoint(ckpt, train_metrics.get("epochs"))
        )
        importance, _ = assess_significance(run_cfg, datamodule, importance, out_dir, recipe)
        save_importance_table(importance, out_dir)
        significance_alpha = cfg.significance.get("alpha")
    metrics = evaluate_model(
        datamodule,
        importance,
        {k: v for k, v in train_metrics.items() if k.startswith("test/")},
        de_cfg=cfg.de,
        comparison_cfg=cfg.comparison,
        out_dir=out_dir,
        model_name=model_name,
        model=model,
        significance_alpha=significance_alpha,
    )
    log.info("report: %s", metrics["eval/report"])
    return {"run_dir": str(run_dir), "checkpoint": str(ckpt), **metrics}
