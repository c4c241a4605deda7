"""Compare attribution rankings with DE hits (DESeq2, edgeR, limma-voom or Wilcoxon) and, on simulated data, the truth.

One row per (method, reference). The DE reference (named after the baseline:
``"deseq2"``, ``"edger"``, ``"limma_voom"`` or ``"wilcoxon"``) uses its hits as the labels and its p-value ranking for
Jaccard@k; the reference ``"truth"`` uses the planted DE genes. On ``"truth"`` an extra
row, method = the baseline's name, scores the baseline's own ranking (``-log10 p``) on
the same genes, so the table answers "is the network or the DE test closer to the
truth?" with the same metrics and the same gene universe. That row also carries the
baseline's realised FDR and power at its nominal threshold over every gene it tested
(``n_calls, realised_fdr, power, nominal_fdr``).

Genes are those the model scored (gene selection happens before training); DE hits
outside that set are counted in ``n_hits_outside_model`` rather than silently lost.
When the model's genes were themselves selected by DE (``data.gene_selection=deseq2``),
most or all of them are hits and AUPRC/AUROC are undefined or uninformative; the
rank agreement inside that DE set is then Spearman (importance vs |stat|, −log10 p)
and Jaccard@k with the DE ranking.

With ``n_bootstrap > 0`` every metric row also carries a 95% (``level``) bootstrap-over-
genes interval, ``<metric>_ci_low/high`` for AUPRC, AUROC, Jaccard@k and Spearman, and
every attribution method's row against the truth carries ``auprc_minus_de`` with its
paired interval (:mod:`genexai.evaluation.gene_intervals`). :func:`summary_sentences`
says one ranking beats another only when that interval excludes 0.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from genexai.errors import DataError
from genexai.evaluation.gene_intervals import gene_intervals, paired_auprc_difference
from genexai.evaluation.metrics import (
    CHANCE_SPEARMAN,
    de_hits,
    neg_log10_pvalue,
    ranking_metrics,
    realised_fdr_power,
    sign_agreement,
    spearman,
    top_k,
    topk_metrics,
)

IMPORTANCE_COLUMNS = ("method", "gene", "importance", "signed_diff")
DE_COLUMNS = ("log2FoldChange", "stat", "pvalue", "padj")
#: How each DE baseline is called in sentences and figures.
DE_LABELS = {"deseq2": "DESeq2", "wilcoxon": "Wilcoxon rank-sum", "edger": "edgeR (QL)", "limma_voom": "limma-voom"}


def de_label(name: str) -> str:
    """Human-readable name of a DE baseline (``deseq2`` → ``DESeq2``)."""
    return DE_LABELS.get(name, name)


def _require(table: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(source, f"missing columns {missing}; expected at least {list(columns)}.")


def _score_row(
    scores: pd.Series,
    is_hit: pd.Series,
    ks: Sequence[int],
    reference_scores: pd.Series | None,
    signed: pd.Series,
    direction: pd.Series | None,
    correlates: dict[str, pd.Series],
    bootstrap: dict[str, float] | None = None,
) -> dict[str, float]:
    """All metrics of one ranking against one set of labels, with chance levels (and CIs with ``bootstrap``)."""
    ranking = ranking_metrics(scores, is_hit)
    row: dict[str, float] = {
        "n_genes_scored": ranking.pop("n_genes"),
        "n_hits": ranking.pop("n_hits"),
        **ranking,
    }
    hits = is_hit.reindex(scores.index, fill_value=False).astype(bool)
    for k in ks:
        top = topk_metrics(scores, reference_scores, hits, k)
        row.update({f"{name}@{k}": value for name, value in top.items() if name != "k"})
        in_top = pd.Series(scores.index.isin(top_k(scores, top["k"])), index=scores.index)
        if direction is not None:
            row[f"sign_agreement@{k}"] = sign_agreement(signed, direction, hits & in_top)[
                "sign_agreement"
            ]
    if direction is not None:
        row.update(sign_agreement(signed, direction, hits))
    for name, target in correlates.items():
        row[f"spearman_{name}"] = spearman(scores, target)
    row["chance_spearman"] = CHANCE_SPEARMAN
    if bootstrap is not None:
        row.update(gene_intervals(scores, is_hit, ks, reference_scores, correlates, **bootstrap))
        row["ci_level"] = bootstrap["level"]
    return row


def compare_methods(
    importance: pd.DataFrame,
    de: pd.DataFrame,
    alpha: float = 0.05,
    lfc_threshold: float = 0.0,
    ks: Sequence[int] = (10, 50, 100),
    truth: pd.Series | None = None,
    truth_log2fc: pd.Series | None = None,
    de_name: str = "deseq2",
    n_bootstrap: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Metrics of every attribution method against a DE baseline (and the truth, if known).

    Parameters
    ----------
    importance : pandas.DataFrame
        Tidy importance table of all methods (``method, gene, importance,
        signed_diff``, ...); ``signed_diff > 0`` pushes toward the tested level.
    de : pandas.DataFrame
        DESeq2 results indexed by gene (contrast tested vs reference).
    alpha, lfc_threshold : float
        Hit definition, see :func:`~genexai.evaluation.metrics.de_hits`.
    ks : sequence of int
        Top-k list lengths.
    truth : pandas.Series of bool, optional
        Planted DE genes (``adata.var["is_de"]``), indexed by gene.
    truth_log2fc : pandas.Series, optional
        True log2 fold changes (``adata.var["true_log2fc"]``); enables Jaccard@k vs
        the top-k by ``|true log2FC|``, sign agreement and Spearman against the truth.
    de_name : str
        Name of the DE baseline (``deseq2``, ``wilcoxon``): the ``reference`` of the
        rows scored against its hits, and the ``method`` of its own row on the truth.
    n_bootstrap, seed, level : int, int, float
        Resamples of the genes for the ``*_ci_low/high`` columns and ``auprc_minus_de``
        (0: none of these columns), their seed (same seed, same intervals) and coverage.

    Returns
    -------
    pandas.DataFrame
        One row per (method, reference) with ``n_genes_scored, n_hits,
        n_hits_outside_model``, AUPRC/AUROC/lift, per-k precision/recall/Jaccard/
        overlap test, sign agreement, Spearman, and a ``chance_*`` column per metric;
        with a truth, the baseline's row adds ``n_calls, realised_fdr, power,
        nominal_fdr`` (:func:`~genexai.evaluation.metrics.realised_fdr_power`).
        With ``n_bootstrap > 0``: ``<metric>_ci_low/high``, ``ci_level``, and on each
        attribution method's truth row ``auprc_minus_de`` (its AUPRC minus the baseline's
        on the same genes) with ``auprc_minus_de_ci_low/high`` (paired bootstrap).
    """
    _require(importance, IMPORTANCE_COLUMNS, "importance table")
    _require(de, DE_COLUMNS, f"{de_label(de_name)} table")
    if importance.empty:
        raise DataError("importance table", "no rows; run the attribution step first.")
    if importance.duplicated(["method", "gene"]).any():
        raise DataError("importance table", "a gene appears twice for one method.")
    hits_de = de_hits(de, alpha, lfc_threshold)
    neglog10p = neg_log10_pvalue(de["pvalue"])
    truth = truth.astype(bool) if truth is not None else None
    abs_true = truth_log2fc.abs() if truth_log2fc is not None else None
    # Jaccard@k vs the truth: the top k planted genes by |true log2FC|; unplanted genes have no rank.
    planted_abs = None
    if abs_true is not None and truth is not None:
        planted_abs = abs_true.where(truth.reindex(abs_true.index, fill_value=False))
    bootstrap = {"n_boot": int(n_bootstrap), "seed": int(seed), "level": float(level)} if n_bootstrap > 0 else None
    rows, universe = [], pd.Index([])
    for method, table in importance.groupby("method", sort=False):
        table = table.set_index("gene")
        genes = table.index.intersection(de.index, sort=False)
        universe = universe.union(genes, sort=False)
        # `direction` (when the table has it) separates up- from down-regulated genes;
        # `signed_diff` does not for baseline attributions (see attribution.table).
        sign_column = "direction" if "direction" in table else "signed_diff"
        scores, signed = table.loc[genes, "importance"], table.loc[genes, sign_column]
        correlates = {"abs_stat": de["stat"].abs(), "neglog10p": neglog10p}
        row = _score_row(
            scores, hits_de, ks, neglog10p, signed, de["log2FoldChange"], correlates, bootstrap
        )
        outside = int(hits_de[~de.index.isin(genes)].sum())
        rows.append({"method": method, "reference": de_name, **row, "n_hits_outside_model": outside})
        if truth is not None:
            genes_t = genes.intersection(truth.index, sort=False)
            correlates = {"abs_true_lfc": abs_true} if abs_true is not None else {}
            row = _score_row(
                scores.loc[genes_t], truth, ks, planted_abs, signed, truth_log2fc, correlates, bootstrap
            )
            if bootstrap is not None:
                difference = paired_auprc_difference(scores.loc[genes_t], neglog10p.loc[genes_t], truth, **bootstrap)
                row.update({key.replace("auprc_diff", "auprc_minus_de"): value for key, value in difference.items()})
            outside = int(truth[~truth.index.isin(genes_t)].sum())
            rows.append({"method": method, "reference": "truth", **row, "n_hits_outside_model": outside})
    if truth is not None:
        genes_t = universe.intersection(truth.index, sort=False)
        correlates = {"abs_true_lfc": abs_true} if abs_true is not None else {}
        row = _score_row(
            neglog10p.loc[genes_t],
            truth,
            ks,
            planted_abs,
            de["log2FoldChange"],
            truth_log2fc,
            correlates,
            bootstrap,
        )
        outside = int(truth[~truth.index.isin(genes_t)].sum())
        calibration = realised_fdr_power(de, truth, alpha, lfc_threshold)
        calibration = {k: calibration[k] for k in ("n_calls", "realised_fdr", "power", "nominal_fdr")}
        rows.append({"method": de_name, "reference": "truth", **row, "n_hits_outside_model": outside, **calibration})
    table = pd.DataFrame(rows)
    front = ["method", "reference", "n_genes_scored", "n_hits", "n_hits_outside_model"]
    return table[front + [c for c in table.columns if c not in front]]


def best_methods(comparison: pd.DataFrame, metric: str = "auprc") -> dict[str, dict]:
    """Per reference, the row with the highest ``metric`` (the DE baseline competes on the truth).

    Returns a dict ``reference -> {method, <metric>, chance_auprc, lift, auroc}`` (plus
    ``<metric>_ci_low/high`` and ``ci_level`` when the table has them); references where the metric is
    undefined for every method are omitted.
    """
    best = {}
    for reference, rows in comparison.groupby("reference", sort=False):
        rows = rows.dropna(subset=[metric])
        if rows.empty:
            continue
        top = rows.loc[rows[metric].idxmax()]
        best[reference] = {
            "method": top["method"],
            metric: float(top[metric]),
            "chance_auprc": float(top["chance_auprc"]),
            "lift": float(top["lift"]),
            "auroc": float(top["auroc"]),
        }
        for key in (f"{metric}_ci_low", f"{metric}_ci_high", "ci_level"):
            if key in top:
                best[reference][key] = float(top[key])
    return best


def _interval(row: pd.Series | dict, name: str) -> str:
    """`` (95% CI 0.412–0.655)`` from the row's ``<name>_ci_low/high``; empty without a finite interval."""
    low, high = row.get(f"{name}_ci_low", np.nan), row.get(f"{name}_ci_high", np.nan)
    if not (np.isfinite(low) and np.isfinite(high)):
        return ""
    return f" ({100 * float(row.get('ci_level', 0.95)):g}% CI {low:.3f}–{high:.3f})"


def _verdict(top: pd.Series, name: str, value: float) -> str:
    """How the best attribution's AUPRC stands against the DE baseline's: a claim only where the paired CI allows one."""
    head = f" The best attribution method ({top['method']}, AUPRC {top['auprc']:.3f})"
    low, high = top.get("auprc_minus_de_ci_low", np.nan), top.get("auprc_minus_de_ci_high", np.nan)
    if not (np.isfinite(low) and np.isfinite(high)):
        return (
            f"{head} against {name}'s p-value ranking (AUPRC {value:.3f}): no confidence interval of the "
            "difference (comparison.n_bootstrap = 0), so no verdict."
        )
    verdict = "beats" if low > 0 else "falls short of" if high < 0 else "is not distinguishable from"
    level = 100 * float(top.get("ci_level", 0.95))
    return (
        f"{head} {verdict} {name}'s p-value ranking (AUPRC {value:.3f}): difference "
        f"{top['auprc_minus_de']:+.3f}, {level:g}% CI {low:+.3f} to {high:+.3f} (paired bootstrap over genes)."
    )


def summary_sentences(comparison: pd.DataFrame) -> dict[str, str]:
    """One plain-language sentence per reference naming the highest AUPRC, with its interval.

    Against the truth, the best attribution method "beats" (or "falls short of") the DE
    baseline's ranking only when the paired bootstrap interval of the AUPRC difference
    (``auprc_minus_de_ci_low/high``) excludes 0; otherwise the two are "not
    distinguishable", and without an interval no verdict is given.
    """
    best = best_methods(comparison)
    sentences = {}
    for reference, rows in comparison.groupby("reference", sort=False):
        label = "the ground truth (planted DE genes)" if reference == "truth" else f"{de_label(reference)} hits"
        if reference not in best:
            all_hits = bool(((rows["n_hits"] == rows["n_genes_scored"]) & (rows["n_hits"] > 0)).all())
            if all_hits:
                sentences[reference] = (
                    f"Every gene the model scored is among {label} (e.g. DE-selected model genes), so AUPRC/AUROC "
                    "are undefined; rank agreement inside that set: spearman_abs_stat, spearman_neglog10p, jaccard@k."
                )
            else:
                sentences[reference] = f"No hits among the scored genes for {label}; agreement is undefined."
            continue
        b = best[reference]
        text = (
            f"Against {label}, {b['method']} has the highest AUPRC: {b['auprc']:.3f}{_interval(b, 'auprc')} vs "
            f"{b['chance_auprc']:.3f} by chance ({b['lift']:.1f}x), AUROC {b['auroc']:.3f}."
        )
        if reference == "truth":
            is_de = rows["method"].isin(list(DE_LABELS))
            attribution = rows[~is_de].dropna(subset=["auprc"])
            baseline = rows[is_de]
            if not attribution.empty and not baseline.empty and np.isfinite(baseline["auprc"].iloc[0]):
                name, value = de_label(baseline["method"].iloc[0]), baseline["auprc"].iloc[0]
                text += _verdict(attribution.loc[attribution["auprc"].idxmax()], name, value)
            if not baseline.empty and "realised_fdr" in baseline and pd.notna(baseline["realised_fdr"].iloc[0]):
                b = baseline.iloc[0]
                text += (
                    f" {de_label(b['method'])} at its nominal FDR {b['nominal_fdr']:g}: {int(b['n_calls'])} calls, "
                    f"realised FDR {b['realised_fdr']:.3f}, power {b['power']:.3f}."
                )
        sentences[reference] = text
    return sentences


def comparison_summary(comparison: pd.DataFrame) -> dict:
    """JSON-able summary: all rows (NaN -> null), best method and sentence per reference."""
    return {
        "rows": json.loads(comparison.to_json(orient="records")),
        "best": best_methods(comparison),
        "sentences": summary_sentences(comparison),
    }
