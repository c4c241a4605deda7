"""The evaluation stage for a condition with K > 2 levels: every contrast scored on its own, and the omnibus.

Each non-reference level ``k`` is one contrast (class ``k`` against the reference class 0):
the attributions that explain ``z_k - z_0`` (``importance.csv`` rows with
``contrast = k``) are scored against the DE baseline's test of ``k`` vs the reference,
fitted once on the training samples (:meth:`~genexai.de.DEMethod.test_contrasts`), and
against ``var["is_de_<k>"]`` where the data has a truth. The class-agnostic rows
(``contrast = omnibus``: each method's largest importance over the contrasts) are scored
against the omnibus test's hits (DESeq2's LRT, edgeR's QL F-test on every coefficient,
limma's moderated F, Kruskal–Wallis) and ``var["is_de"]`` (DE in any contrast). Every
table gets a ``contrast`` column; two-level runs never come here
(:func:`genexai.pipeline.evaluate.evaluate_model`), so their files are unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from genexai.data.datamodule import RNASeqDataModule
from genexai.de import build_de_method
from genexai.estimators import Estimator
from genexai.evaluation import compare_methods, write_report
from genexai.evaluation import plots
from genexai.evaluation.ceiling import ceiling_rows
from genexai.evaluation.compare import de_label
from genexai.evaluation.metrics import planted_de
from genexai.pipeline.evaluate import (
    ceiling_method,
    check_de_config,
    comparison_metrics,
    comparison_options,
    deletion_step,
    evaluate_model,
    fit_on_training,
    run_details,
    stage_metrics,
)
from genexai.utils.contrasts import CONTRAST, OMNIBUS, contrast_names, is_multiclass
from genexai.utils.files import atomic_write
from genexai.utils.resources import measure

__all__ = ["contrast_truth", "evaluate_contrasts", "evaluate_run", "long_form", "omnibus_fold_change"]

log = logging.getLogger(__name__)


def omnibus_fold_change(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The omnibus table with ``log2FoldChange`` = the per-contrast fold change of largest magnitude.

    An omnibus test has no fold change of its own; giving it the largest one makes the
    hit rule ``padj < alpha and |log2FC| >= comparison.lfc_threshold`` mean "differs
    between some pair of levels by at least the threshold", as it is usually applied to
    an LRT, and leaves it unchanged at the default threshold 0.
    """
    per_contrast = pd.concat(
        {name: table["log2FoldChange"] for name, table in tables.items() if name != OMNIBUS}, axis=1
    )
    values = per_contrast.to_numpy(dtype=float)
    largest = np.full(len(per_contrast), np.nan)
    finite = np.isfinite(values).any(axis=1)
    picks = np.argmax(np.where(np.isfinite(values), np.abs(values), -1.0)[finite], axis=1)
    largest[finite] = values[finite][np.arange(picks.size), picks]
    omnibus = tables[OMNIBUS].copy()
    omnibus["log2FoldChange"] = pd.Series(largest, index=per_contrast.index).reindex(omnibus.index)
    return omnibus


def long_form(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One table of every contrast's rows, ``contrast`` first, indexed by gene (``de.csv``)."""
    return _contrast_first(pd.concat([table.assign(**{CONTRAST: name}) for name, table in tables.items()]))


def contrast_truth(var: pd.DataFrame, contrast: str) -> tuple[pd.Series | None, pd.Series | None]:
    """The planted DE genes and true log2FC of one contrast (``is_de_<level>``, ``true_log2fc_<level>``).

    The omnibus' truth is ``is_de`` (DE in any contrast) and has no single fold change.
    ``(None, None)`` on data without a truth.
    """
    if contrast == OMNIBUS:
        return planted_de(var), None
    is_de, lfc = f"is_de_{contrast}", f"true_log2fc_{contrast}"
    return (var[is_de].astype(bool) if is_de in var else None), (var[lfc] if lfc in var else None)


def _per_contrast(importance: pd.DataFrame, contrast: str) -> pd.DataFrame:
    return importance.loc[importance[CONTRAST] == contrast].drop(columns=CONTRAST)


def evaluate_run(datamodule: RNASeqDataModule, importance: pd.DataFrame, classification_metrics: dict[str, Any], **options: Any) -> dict[str, Any]:
    """The evaluation stage of a run: :func:`evaluate_contrasts` for K > 2 classes, else :func:`~genexai.pipeline.evaluate.evaluate_model`."""
    evaluate = evaluate_contrasts if is_multiclass(datamodule.class_names) else evaluate_model
    return evaluate(datamodule, importance, classification_metrics, **options)


def evaluate_contrasts(
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
    """:func:`~genexai.pipeline.evaluate.evaluate_model` for K > 2 classes: one comparison per contrast and the omnibus.

    Writes ``de.csv`` (long form), ``comparison.csv``/``.json`` and ``de_ceiling.csv`` with
    a ``contrast`` column, per-contrast figures under ``<contrast>/``, faithfulness of the
    class-agnostic rankings (macro one-vs-rest AUROC) and ``report.html`` with one section
    per contrast. Metrics: ``eval/auprc_vs_<reference>/<method>`` and
    ``eval/auprc_vs_de/max`` are the omnibus rows (what a sweep optimises), and every
    contrast's own are ``eval/contrast_<level>/auprc_vs_<reference>/<method>``.
    ``significance_alpha`` is accepted for the common signature; significance is refused
    earlier for K > 2 (:func:`genexai.significance.check_significance_classes`).
    """
    del significance_alpha
    de_name = de_cfg.get("name", "deseq2")
    check_de_config(de_cfg)
    with measure() as de_usage:
        tables, cache_hit, kept = fit_on_training(datamodule, de_cfg, build_de_method(de_cfg), contrasts=True)
    tables = {name: table if kept is None else table.loc[kept] for name, table in tables.items()}
    tables[OMNIBUS] = omnibus_fold_change(tables)
    de = long_form(tables)
    atomic_write(out_dir / "de.csv", lambda tmp: de.to_csv(tmp, index_label="gene"))

    options = comparison_options(comparison_cfg)
    var = datamodule.adata.var
    comparisons, ceilings = [], []
    other = ceiling_method(de_cfg, comparison_cfg)
    other_tables = None
    if other is not None:
        other_tables = fit_on_training(datamodule, de_cfg, other, contrasts=True)[0]
    figures: dict[str, Path] = {}
    for contrast in contrast_names(datamodule.class_names):
        truth, truth_lfc = contrast_truth(var, contrast)
        scored = _per_contrast(importance, contrast)
        rows = compare_methods(scored, tables[contrast], truth=truth, truth_log2fc=truth_lfc, de_name=de_name, **options)
        comparisons.append(rows.assign(**{CONTRAST: contrast}))
        if other_tables is not None:
            ceiling = ceiling_rows(
                tables[contrast], other_tables[contrast], other.name, datamodule.gene_names, de_name=de_name, **options
            )
            ceilings.append(ceiling.assign(**{CONTRAST: contrast}))
        drawn = plots.make_figures(
            out_dir / contrast, scored, tables[contrast], alpha=comparison_cfg.alpha,
            lfc_threshold=comparison_cfg.lfc_threshold, de_label=de_label(de_name),
        )  # fmt: skip
        figures.update({f"{contrast}/{name}": path for name, path in drawn.items()})
    comparison = _contrast_first(pd.concat(comparisons, ignore_index=True))
    ceiling = _contrast_first(pd.concat(ceilings, ignore_index=True)) if ceilings else None
    if ceiling is not None:
        atomic_write(out_dir / "de_ceiling.csv", lambda tmp: ceiling.to_csv(tmp, index=False))

    comparison, faith_summary, deletion_figure, faith_seconds = deletion_step(
        model, datamodule, _per_contrast(importance, OMNIBUS), comparison, comparison_cfg, out_dir
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
        extra={
            **run_details(datamodule, de_name, cache_hit, de_usage.seconds, faith_seconds),
            "contrasts": [f"{level} vs {datamodule.class_names[0]}" for level in datamodule.class_names[1:]],
        },
        alpha=comparison_cfg.alpha,
        lfc_threshold=comparison_cfg.lfc_threshold,
        de_name=de_name,
        faithfulness=faith_summary,
        ceiling=ceiling,
        reference_level=datamodule.class_names[0],
    )
    metrics = stage_metrics(datamodule, de_name, cache_hit, de_usage, report, faith_seconds, faith_summary)
    metrics["eval/de_contrasts"] = list(tables)
    for contrast, rows in comparison.groupby(CONTRAST, sort=False):
        metrics.update(comparison_metrics(rows, de_name, list(comparison_cfg.ks), prefix=_prefix(contrast)))
    for row in [] if ceiling is None else ceiling.to_dict("records"):
        metrics[f"{_prefix(row[CONTRAST])}ceiling/auprc_vs_{de_name}/{row['method']}"] = float(row["auprc"])
    return metrics


def _prefix(contrast: str) -> str:
    """``eval/`` for the omnibus rows (the keys two-level runs use), ``eval/contrast_<level>/`` for a contrast."""
    return "eval/" if contrast == OMNIBUS else f"eval/contrast_{contrast}/"


def _contrast_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[CONTRAST, *[c for c in frame.columns if c != CONTRAST]]]
