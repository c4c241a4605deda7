"""The evaluation stage of a run: a DE baseline on the run's training samples, attributions vs its hits (and truth), the inter-tool ceiling, faithfulness, report.

:func:`evaluate_model` is called by ``train.py evaluate=true`` (so sweeps can optimise
attribution-vs-DE agreement) and by :func:`genexai.pipeline.reload.evaluate`, which
reloads a finished training run from its directory for ``evaluate.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from genexai.data.datamodule import RNASeqDataModule
from genexai.de import DEMethod, build_de_method
from genexai.de import check_de_config as check_de_engine
from genexai.estimators import Estimator
from genexai.errors import ConfigError
from genexai.evaluation import compare_methods, write_report
from genexai.evaluation.compare import de_label
from genexai.evaluation import plots
from genexai.evaluation.ceiling import ceiling_rows
from genexai.evaluation.faithfulness import faithfulness, rankings_from_importance
from genexai.evaluation.metrics import planted_de
from genexai.significance import has_significance, significance_calls, significance_metrics
from genexai.utils.files import atomic_write
from genexai.utils.resources import Usage, measure

__all__ = [
    "ceiling_method", "check_de_config", "comparison_metrics", "comparison_options", "de_gene_sets", "deletion_step",
    "evaluate_model", "fit_on_training", "run_ceiling", "run_de_baseline", "run_details", "run_faithfulness",
    "stage_metrics",
]  # fmt: skip

log = logging.getLogger(__name__)


DE_GENE_SETS = ("all", "expressed", "model")


def check_de_config(de_cfg: DictConfig) -> None:
    """Refuse a bad DE option (gene set, inference engine, device, an R engine without R) before any training."""
    check_de_engine(de_cfg)
    which = de_cfg.get("genes", "all")
    if which not in DE_GENE_SETS:
        raise ConfigError(f"de.genes must be one of {list(DE_GENE_SETS)}, got {which!r}")
    build_de_method(de_cfg).check_available()


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
    ``torch`` engine (on ``de_cfg.device``), see :mod:`genexai.de.torch`.
    """
    check_de_config(de_cfg)
    table, cache_hit, kept = fit_on_training(datamodule, de_cfg, build_de_method(de_cfg))
    return (table if kept is None else table.loc[kept]), cache_hit


def fit_on_training(
    datamodule: RNASeqDataModule, de_cfg: DictConfig, method: DEMethod, *, contrasts: bool = False
) -> tuple[Any, bool, list[str] | None]:
    """``method`` on the training samples' raw counts of ``de.genes``' fit, with ``de``'s design and class A as reference.

    Returns the table (``contrasts``: the dict of :meth:`~genexai.de.DEMethod.test_contrasts`,
    one table per tested level and the omnibus test), whether it came from the cache, and
    the rows to keep (:func:`de_gene_sets`).
    """
    train = datamodule.raw_counts("train")
    counts = pd.DataFrame(train.X, index=train.obs_names, columns=train.var_names)
    fitted, kept = de_gene_sets(datamodule, de_cfg.get("genes", "all"))
    test = method.test_contrasts if contrasts else method.test
    table, cache_hit = test(
        counts[fitted], train.obs, design=de_cfg.get("design") or datamodule.design, ref_level=datamodule.class_names[0]
    )
    return table, cache_hit, kept


def run_ceiling(datamodule: RNASeqDataModule, de_cfg: DictConfig, de: pd.DataFrame, comparison_cfg: DictConfig) -> pd.DataFrame | None:
    """The second DE tool (``comparison.ceiling``, default edgeR) on the same training counts, scored against ``de``'s hits.

    Skipped (``None``, logged) when it is the baseline itself, switched off, or not installed
    (R's engines are optional): the ceiling is context for the scores, not a requirement.
    """
    method = ceiling_method(de_cfg, comparison_cfg)
    if method is None:
        return None
    table, _, _ = fit_on_training(datamodule, de_cfg, method)
    return ceiling_rows(
        de, table, method.name, datamodule.gene_names, de_name=de_cfg.get("name", "deseq2"), **comparison_options(comparison_cfg)
    )


def ceiling_method(de_cfg: DictConfig, comparison_cfg: DictConfig) -> DEMethod | None:
    """The DE method of the inter-tool ceiling, or ``None`` (logged) when it is the baseline, switched off or not installed."""
    other = comparison_cfg.get("ceiling")
    de_name = de_cfg.get("name", "deseq2")
    if not other or other == de_name:
        return None
    method = build_de_method(de_cfg, name=other)
    try:
        method.check_available()
    except ConfigError as err:
        log.info("inter-tool ceiling (%s vs %s hits) skipped: %s", other, de_name, err)
        return None
    return method


def comparison_options(comparison_cfg: DictConfig) -> dict[str, Any]:
    """The options of :func:`~genexai.evaluation.compare_methods` that ``comparison.*`` sets (hits, top-k, bootstrap)."""
    return {
        "alpha": comparison_cfg.alpha,
        "lfc_threshold": comparison_cfg.lfc_threshold,
        "ks": list(comparison_cfg.ks),
        "n_bootstrap": int(comparison_cfg.get("n_bootstrap", 200)),
        "seed": int(comparison_cfg.get("bootstrap_seed", 0)),
        "level": float(comparison_cfg.get("ci_level", 0.95)),
    }


def run_faithfulness(
    model: Estimator, datamodule: RNASeqDataModule, importance: pd.DataFrame, cfg: DictConfig
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Deletion curves and faithfulness summary of every method's ranking on the test split (``comparison.faithfulness``).

    Deleted genes take their mean over the training samples' model inputs (0 up to
    rounding, as the preprocessing standardises on the training split). ``None`` when
    the model has no class probabilities to re-score.
    """
    if not model.has_proba:
        log.info("faithfulness skipped: %s has no class probabilities", model.name)
        return None
    x_test, y_test = datamodule.tensors("test")
    fill = datamodule.tensors("train")[0].mean(dim=0)
    return faithfulness(
        model.predict_proba,
        x_test.numpy(),
        y_test.numpy(),
        rankings_from_importance(importance, datamodule.gene_names),
        fill.numpy(),
        k_max=int(cfg.k_max),
        n_points=int(cfg.n_points),
        n_random=int(cfg.n_random),
        seed=int(cfg.seed),
    )


def deletion_step(
    model: Estimator, datamodule: RNASeqDataModule, importance: pd.DataFrame, comparison: pd.DataFrame,
    comparison_cfg: DictConfig, out_dir: Path,
) -> tuple[pd.DataFrame, pd.DataFrame | None, Path | None, float]:  # fmt: skip
    """Faithfulness of ``importance``'s rankings when ``comparison.faithfulness.enabled``: ``faithfulness.csv``, its figure.

    Returns the comparison with the per-method summary joined to every row of a method
    (it does not depend on the reference), the summary (``None`` when skipped), the
    deletion-curve figure and the seconds it took.
    """
    faith_cfg = comparison_cfg.get("faithfulness")
    deletion = None
    with measure() as usage:
        if faith_cfg is not None and faith_cfg.get("enabled", False):
            deletion = run_faithfulness(model, datamodule, importance, faith_cfg)
    if deletion is None:
        return comparison, None, None, usage.seconds
    curves, summary = deletion
    atomic_write(out_dir / "faithfulness.csv", lambda tmp: curves.to_csv(tmp, index=False))
    figure = plots.deletion_curves(curves, out_dir / "deletion_curves.png")
    return comparison.join(summary, on="method"), summary, figure, usage.seconds


def run_details(
    datamodule: RNASeqDataModule, de_name: str, cache_hit: bool, de_seconds: float, faith_seconds: float
) -> dict[str, Any]:
    """The report's "Run details": baseline, cache, times, training samples, gene selection."""
    return {
        "DE baseline": de_label(de_name),
        "DE cache hit": cache_hit,
        "DE time (s)": round(de_seconds, 2),
        "faithfulness time (s)": round(faith_seconds, 2),
        "training samples": int(len(datamodule.split_index["train"])),
        "gene selection": getattr(datamodule, "selection_info", {"method": "variance"}),
    }


def stage_metrics(
    datamodule: RNASeqDataModule, de_name: str, cache_hit: bool, de_usage: Usage, report: Path,
    faith_seconds: float, faith_summary: pd.DataFrame | None,
) -> dict[str, Any]:  # fmt: skip
    """The evaluation's own ``eval/*`` records: baseline, cache, time and memory, samples, report, faithfulness."""
    metrics: dict[str, Any] = {
        "eval/de_baseline": de_name,
        "eval/de_cache_hit": cache_hit,
        "eval/de_time_s": de_usage.seconds,
        "eval/de_peak_rss_mib": de_usage.peak_rss_mib,
        "eval/de_samples": sorted(datamodule.raw_counts("train").obs_names),
        "eval/report": str(report),
        "eval/faithfulness_time_s": faith_seconds,
    }
    for method, row in (() if faith_summary is None else faith_summary.iterrows()):
        metrics[f"eval/faithfulness_auroc/{method}"] = float(row["faithfulness_auroc"])
        metrics[f"eval/faithfulness_logloss/{method}"] = float(row["faithfulness_logloss"])
    return metrics


def comparison_metrics(comparison: pd.DataFrame, de_name: str, ks: list[int], prefix: str = "eval/") -> dict[str, float]:
    """``<prefix>auprc_vs_<reference>/<method>``, rank agreement vs the baseline, its realised FDR/power, the best AUPRC."""
    metrics: dict[str, float] = {}
    for row in comparison.to_dict("records"):
        metrics[f"{prefix}auprc_vs_{row['reference']}/{row['method']}"] = float(row["auprc"])
        if row["reference"] == de_name:
            metrics[f"{prefix}spearman_neglog10p_vs_{de_name}/{row['method']}"] = float(row["spearman_neglog10p"])
            for k in ks:
                metrics[f"{prefix}jaccard@{k}_vs_{de_name}/{row['method']}"] = float(row[f"jaccard@{k}"])
        if row["method"] == de_name and pd.notna(row.get("realised_fdr")):
            for key in ("realised_fdr", "power", "n_calls"):
                metrics[f"{prefix}{de_name}/{key}"] = float(row[key])
    vs_de = comparison.loc[comparison["reference"] == de_name, "auprc"]
    metrics[f"{prefix}auprc_vs_de/max"] = float(vs_de.max()) if len(vs_de) else float("nan")
    return metrics


def evaluate_model(
    datamodule: RNASeqDataModule,
    importance: pd.DataFrame,
    classification_metrics: dict[str, Any],
    *,
    de_cfg: DictConfig,
    comparison_cfg: DictConfig,
    out_dir: Path,
    model_name: str,
    model: Estimator,
    significance_alpha: float | None = None,
) -> dict[str, Any]:
    """Fit the DE baseline, compare every attribution method with it (and the truth), measure faithfulness, write the report.

    Writes ``de.csv``, ``comparison.csv``/``.json``, ``faithfulness.csv``, ``de_ceiling.csv``
    (:func:`run_ceiling`: edgeR's ranking vs the same hits, ``eval/ceiling/auprc_vs_<baseline>/edger``),
    figures and ``report.html`` into ``out_dir``. ``model`` (the fitted classifier) is re-scored on
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
        importance, de, truth=truth, truth_log2fc=truth_lfc, de_name=de_name, **comparison_options(comparison_cfg)
    )
    ceiling = run_ceiling(datamodule, de_cfg, de, comparison_cfg)
    if ceiling is not None:
        atomic_write(out_dir / "de_ceiling.csv", lambda tmp: ceiling.to_csv(tmp, index=False))
    comparison, faith_summary, deletion_figure, faith_seconds = deletion_step(
        model, datamodule, importance, comparison, comparison_cfg, out_dir
    )
    calls = None
    if has_significance(importance):
        alpha = comparison_cfg.alpha if significance_alpha is None else significance_alpha
        calls = significance_calls(importance, de, alpha=float(alpha), truth=truth)
        atomic_write(out_dir / "significance.csv", lambda tmp: calls.to_csv(tmp, index=False))
    figures = plots.make_figures(
        out_dir, importance, de, alpha=comparison_cfg.alpha, lfc_threshold=comparison_cfg.lfc_threshold,
        de_label=de_label(de_name),
    )
    if deletion_figure is not None:
        figures["deletion_curves"] = deletion_figure
    report = write_report(
        out_dir,
        dataset=datamodule.name,
        model=model_name,
        classification_metrics=classification_metrics,
        comparison=comparison,
        de=de,
        importance=importance,
        figures=figures,
        extra=run_details(datamodule, de_name, cache_hit, de_time, faith_seconds),
        alpha=comparison_cfg.alpha,
        lfc_threshold=comparison_cfg.lfc_threshold,
        de_name=de_name,
        significance=calls,
        faithfulness=faith_summary,
        ceiling=ceiling,
    )
    metrics = stage_metrics(datamodule, de_name, cache_hit, de_usage, report, faith_seconds, faith_summary)
    metrics.update(comparison_metrics(comparison, de_name, list(comparison_cfg.ks)))
    for row in [] if ceiling is None else ceiling.to_dict("records"):
        metrics[f"eval/ceiling/auprc_vs_{de_name}/{row['method']}"] = float(row["auprc"])
    if calls is not None:
        metrics.update(significance_metrics(calls))
    return metrics
