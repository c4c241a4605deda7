"""Self-contained HTML report of one evaluation, plus machine-readable tables.

``report.html`` embeds every figure as base64 PNG and has no external CSS or
JavaScript, so a biologist can open it offline or attach it to an e-mail. Every file
is written through :mod:`genexai.utils.files` (temporary name + rename), so a killed evaluation leaves either the
previous file or the complete new one, never half of one.
"""

from __future__ import annotations

import base64
import html
import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from genexai.evaluation.compare import comparison_summary, de_label
from genexai.evaluation.metrics import de_hits, top_k
from genexai.evaluation.uncertainty import small_test_warning
from genexai.utils.contrasts import CONTRAST, OMNIBUS
from genexai.utils.files import atomic_write

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
.summary{background:#f6f8fa;border-left:4px solid #4a7;padding:0.5em 1em}
.warning{background:#fff4e5;border-left:4px solid #e69500;padding:0.5em 1em}
.scroll{overflow-x:auto}
figure{display:inline-block;margin:0.5em}
img{max-width:560px}
"""

# The metrics table in the report shows these (with their chance levels); the CSV
# and JSON keep every column.
_REPORT_METRICS = (
    "n_genes_scored", "n_hits", "n_hits_outside_model", "auprc", "chance_auprc", "lift",
    "auroc", "chance_auroc", "sign_agreement", "chance_sign_agreement",
    "spearman_abs_stat", "spearman_neglog10p", "n_calls", "realised_fdr", "nominal_fdr", "power",
)
_REPORT_TOPK = ("precision", "chance_precision", "recall", "chance_recall", "jaccard",
                "chance_jaccard", "overlap_pvalue")


def _write_utf8(path: Path, text: str) -> Path:
    # Explicit UTF-8: gene names and the report's typography must not depend on the locale.
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _table(frame: pd.DataFrame, index: bool = False) -> str:
    return frame.to_html(index=index, float_format=lambda v: f"{v:.3g}", na_rep="–", border=0)


def _span(low: float | None, high: float | None) -> str:
    return "–" if pd.isna(low) or pd.isna(high) else f"{low:.3g} to {high:.3g}"


def _with_intervals(frame: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """Put ``<column> CI`` ("low to high") after each column whose ``_ci_low/_ci_high`` the source has."""
    out = frame.copy()
    for column in list(frame.columns):
        low, high = f"{column}_ci_low", f"{column}_ci_high"
        if low in source and high in source:
            spans = [_span(lo, hi) for lo, hi in zip(source[low], source[high])]
            out.insert(out.columns.get_loc(column) + 1, f"{column} CI", spans)
    return out


def _metrics_table(comparison: pd.DataFrame) -> pd.DataFrame:
    ks = sorted({int(c.split("@")[1]) for c in comparison.columns if c.startswith("precision@")})
    columns = ["method", "reference", *(c for c in (*_REPORT_METRICS, "auprc_minus_de") if c in comparison)]
    columns += [f"{m}@{k}" for k in ks for m in _REPORT_TOPK if f"{m}@{k}" in comparison]
    return _with_intervals(comparison[columns], comparison)


def _small_test(metrics: dict) -> str:
    """The unreliable-estimate warning of a test set under MIN_RELIABLE_SAMPLES samples, as a paragraph."""
    n = metrics.get("test/n_samples")
    warning = small_test_warning(int(n)) if n is not None else None
    return f'<p class="warning">Warning: {html.escape(warning)}.</p>' if warning else ""


def _classification(metrics: dict) -> str:
    """Section body: test metrics with their CI (the small-test warning is in the Summary)."""
    if not metrics:
        return _table(pd.DataFrame())
    level = 100 * float(metrics.get("test/ci_level", 0.95))
    values = {k: v for k, v in metrics.items() if not k.endswith(("_ci_low", "_ci_high", "/n_samples", "/ci_level"))}
    table = pd.DataFrame({"value": values})
    table[f"{level:g}% CI"] = [_span(metrics.get(f"{k}_ci_low"), metrics.get(f"{k}_ci_high")) for k in values]
    n = metrics.get("test/n_samples")
    note = (
        f"<p>{int(n)} test samples; CI: Wilson (accuracy), Hanley–McNeil score interval (two-class AUROC), "
        "stratified bootstrap over the test samples (more classes); docs/uncertainty.md.</p>"
        if n is not None else ""
    )
    return _table(table, index=True) + note


def _top_genes(importance: pd.DataFrame, de: pd.DataFrame, n: int, alpha: float, lfc_threshold: float) -> str:
    hits = de_hits(de, alpha, lfc_threshold)
    sections = []
    for method in dict.fromkeys(importance["method"]):
        table = importance.loc[importance["method"] == method].set_index("gene")
        genes = top_k(table["importance"], n)
        rows = table.loc[genes, ["importance", "signed_diff"]].join(
            de[["baseMean", "log2FoldChange", "padj"]], how="left"
        )
        rows.insert(0, "rank", range(1, len(rows) + 1))
        rows["DE hit"] = hits.reindex(genes, fill_value=False).map({True: "yes", False: ""})
        sections.append(f"<h3>{html.escape(str(method))}</h3>{_table(rows, index=True)}")
    return "\n".join(sections)


def _significance(calls: pd.DataFrame | None) -> str:
    """Section: ML genes at q < alpha beside DESeq2 at padj < alpha (and realised FDP / power with a truth)."""
    if calls is None or calls.empty:
        return ""
    alpha = float(calls["alpha"].iloc[0])
    kinds = sorted({str(k) for k in calls["significance"] if k != "padj"})
    truth = "fdp" in calls and calls["fdp"].notna().any()
    columns = [c for c in calls.columns if c != "alpha" and (truth or c not in _TRUTH_COLUMNS)]
    note = (
        " fdp = false calls / calls and power = true calls / planted DE genes, realised on this one dataset"
        f" (one noisy draw of the FDR that the nominal {alpha:g} bounds on average); power_model_genes counts"
        " only the planted genes the model saw."
        if truth
        else ""
    )
    nulls = "; ".join(_NULLS.get(k, k) for k in kinds)
    return (
        f"<h2>Significance: genes called at nominal FDR {alpha:g}</h2>"
        f"<p>Attribution methods: genes with q &lt; {alpha:g}, q-values from {html.escape(nulls)}. "
        f"DESeq2: padj &lt; {alpha:g} on every gene it tested (deseq2) and on the model's genes only "
        f"(deseq2_model_genes).{html.escape(note)}</p>"
        f'<div class="scroll">{_table(calls[columns])}</div>'
    )


def _ceiling(rows: pd.DataFrame | None, de_name: str) -> str:
    """Section: a second DE tool's ranking against the same hits, the agreement two gold standards reach."""
    if rows is None or rows.empty:
        return ""
    tools = ", ".join(de_label(m) for m in rows["method"].unique())
    return (
        f"<h2>Inter-tool ceiling: {html.escape(tools)} vs {html.escape(de_label(de_name))} hits</h2>"
        f"<p>The same metrics for {html.escape(tools)}'s p-value ranking of the model's genes, fitted on the same "
        f"training samples, against the same {html.escape(de_label(de_name))} hits: how far two gold-standard "
        "tools agree, the ceiling to read the attribution scores above against (de_ceiling.csv).</p>"
        f'<div class="scroll">{_table(_metrics_table(rows))}</div>'
    )


def _faithfulness(summary: pd.DataFrame | None) -> str:
    """Section: per method, how much deleting its top genes hurts the classifier beyond deleting random genes."""
    if summary is None or summary.empty:
        return ""
    return (
        "<h2>Faithfulness: deleting each method's top genes</h2>"
        "<p>The test samples' top-k genes of a ranking are set to their training mean and the test set is "
        "re-scored, for k from 0 to K (figure: deletion curves; faithfulness.csv). faithfulness_auroc = area "
        "between the random-deletion and the method's AUROC curve / K; faithfulness_logloss = the same for the "
        "log-loss increase. Larger = the classifier relies more on the method's genes; random genes score "
        "chance_faithfulness = 0. _sd: spread over the random gene sets; _pvalue: (1 + random sets hurting at "
        "least as much) / (random sets + 1). Independent of DESeq2.</p>"
        f'<div class="scroll">{_table(summary, index=True)}</div>'
    )


_NULLS = {
    "permutation": "a label-permutation null (B models retrained on shuffled labels; per gene "
    "p = (1 + #null ≥ observed) / (B + 1), then Benjamini–Hochberg)",
    "permutation_pooled": "a label-permutation null pooled across genes (p = (1 + #null values of any gene "
    "≥ observed) / (B·G + 1), then Benjamini–Hochberg)",
    "decoy": "decoy genes (target–decoy FDR against copies of the genes permuted across samples)",
}
_TRUTH_COLUMNS = ("n_true", "n_true_tested", "true_calls", "false_calls", "fdp", "power", "power_model_genes")


def _figures(figures: dict[str, Path]) -> str:
    blocks = []
    for name, path in figures.items():
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        title = html.escape(name.replace("_", " "))
        blocks.append(
            f'<figure><img alt="{title}" src="data:image/png;base64,{data}">'
            f"<figcaption>{title}</figcaption></figure>"
        )
    return "\n".join(blocks)


def contrast_summaries(comparison: pd.DataFrame) -> dict:
    """:func:`~genexai.evaluation.compare.comparison_summary` of every contrast: ``best`` by contrast, sentences prefixed."""
    rows = json.loads(comparison.to_json(orient="records"))
    best, sentences = {}, {}
    for contrast, part in comparison.groupby(CONTRAST, sort=False):
        summary = comparison_summary(part.drop(columns=CONTRAST))
        best[contrast] = summary["best"]
        title = "omnibus (any level differs)" if contrast == OMNIBUS else f"contrast {contrast}"
        sentences.update({f"{contrast}/{ref}": f"[{title}] {text}" for ref, text in summary["sentences"].items()})
    return {"rows": rows, "best": best, "sentences": sentences}


def _contrast_sections(
    comparison: pd.DataFrame, importance: pd.DataFrame, de: pd.DataFrame, figures: dict[str, Path],
    n_top: int, alpha: float, lfc_threshold: float, de_name: str, reference_level: str | None,
) -> str:  # fmt: skip
    """One section per contrast (K > 2 classes): its metrics, figures and top genes, the omnibus last."""
    reference = reference_level or "the reference level"
    sections = []
    for contrast in dict.fromkeys(comparison[CONTRAST]):
        title = (
            "Omnibus: each method's largest importance over the contrasts vs the omnibus test's hits"
            if contrast == OMNIBUS else f"Contrast {contrast} vs {reference}"
        )  # fmt: skip
        rows = comparison.loc[comparison[CONTRAST] == contrast].drop(columns=CONTRAST)
        scored = importance.loc[importance[CONTRAST] == contrast].drop(columns=CONTRAST)
        table = de.loc[de[CONTRAST] == contrast].drop(columns=CONTRAST)
        drawn = {name.split("/", 1)[1]: path for name, path in figures.items() if name.startswith(f"{contrast}/")}
        sections.append(
            f"<h2>{html.escape(title)}</h2><div class=\"scroll\">{_table(_metrics_table(rows))}</div>"
            f"{_figures(drawn)}<h3>Top {n_top} genes per method, with {html.escape(de_label(de_name))} statistics</h3>"
            f"<div class=\"scroll\">{_top_genes(scored, table, n_top, alpha, lfc_threshold)}</div>"
        )
    return "\n".join(sections)


def _figures_and_top_genes(
    importance: pd.DataFrame, de: pd.DataFrame, figures: dict[str, Path],
    n_top: int, alpha: float, lfc_threshold: float, de_name: str, multiclass: bool,
) -> str:  # fmt: skip
    """The Figures and Top-genes sections; with contrasts only the figures of none (deletion curves)."""
    if multiclass:
        shared = {name: path for name, path in figures.items() if "/" not in name}
        return f"<h2>Figures</h2>{_figures(shared)}" if shared else ""
    return (
        f"<h2>Figures</h2>{_figures(figures)}\n"
        f"<h2>Top {n_top} genes per method, with {html.escape(de_label(de_name))} statistics</h2>\n"
        f"<div class=\"scroll\">{_top_genes(importance, de, n_top, alpha, lfc_threshold)}</div>"
    )


def write_report(
    run_dir: Path | str,
    *,
    dataset: str,
    model: str,
    classification_metrics: dict,
    comparison: pd.DataFrame,
    de: pd.DataFrame,
    importance: pd.DataFrame,
    figures: dict[str, Path],
    extra: dict | None = None,
    alpha: float = 0.05,
    lfc_threshold: float = 0.0,
    n_top: int = 20,
    de_name: str = "deseq2",
    significance: pd.DataFrame | None = None,
    faithfulness: pd.DataFrame | None = None,
    ceiling: pd.DataFrame | None = None,
    reference_level: str | None = None,
) -> Path:
    """Write ``report.html``, ``comparison.json`` and ``comparison.csv`` into ``run_dir``.

    Parameters
    ----------
    run_dir : path
        The run directory (created if needed).
    dataset, model : str
        Names shown in the header.
    classification_metrics : dict
        Test-set metrics of the classifier (e.g. accuracy, AUROC).
    comparison : pandas.DataFrame
        Output of :func:`~genexai.evaluation.compare.compare_methods`.
    de, importance : pandas.DataFrame
        DE table (DESeq2 or Wilcoxon) and tidy importance table (for the top-gene tables).
    figures : dict
        ``name -> PNG path``, e.g. from :func:`~genexai.evaluation.plots.make_figures`.
    extra : dict, optional
        Anything else worth recording (contrast, config, seeds); shown and saved.
    alpha, lfc_threshold : float
        Hit definition used to flag genes in the top-gene tables.
    n_top : int
        Genes listed per method.
    de_name : str
        The DE baseline (``deseq2``, ``wilcoxon``), named in titles.
    significance : pandas.DataFrame, optional
        Output of :func:`~genexai.significance.significance_calls` (genes called at a
        nominal FDR by each method and by DESeq2); adds a section.
    ceiling : pandas.DataFrame, optional
        Rows of :func:`~genexai.evaluation.ceiling.ceiling_rows` (a second DE tool vs the
        same hits); adds a section.
    faithfulness : pandas.DataFrame, optional
        Per-method deletion summary indexed by method (the second output of
        :func:`~genexai.evaluation.faithfulness.faithfulness`); adds a section.
    reference_level : str, optional
        The reference class, named in the per-contrast section titles (K > 2 classes:
        tables with a ``contrast`` column get one section per contrast).

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.
    """
    run_dir = Path(run_dir)
    multiclass = CONTRAST in comparison.columns
    summary = contrast_summaries(comparison) if multiclass else comparison_summary(comparison)
    payload = {
        "dataset": dataset,
        "model": model,
        "de_baseline": de_name,
        "classification_metrics": classification_metrics,
        "hit_definition": {"alpha": alpha, "lfc_threshold": lfc_threshold},
        **summary,
        "extra": extra or {},
    }
    _write_utf8(run_dir / "comparison.json", json.dumps(payload, indent=2, default=str) + "\n")
    _write_utf8(run_dir / "comparison.csv", comparison.to_csv(index=False))

    esc = html.escape
    sentences = "".join(f"<p>{esc(s)}</p>" for s in summary["sentences"].values())
    extra_html = (
        f"<h2>Run details</h2><pre>{esc(json.dumps(extra, indent=2, default=str))}</pre>"
        if extra
        else ""
    )
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>genexai report: {esc(model)} on {esc(dataset)}</title><style>{_CSS}</style></head>
<body>
<h1>Attribution vs {esc(de_label(de_name))}: {esc(model)} on {esc(dataset)}</h1>
<p>Generated {created}. DE hits: padj &lt; {alpha} and |log2FC| &ge; {lfc_threshold};
log2FC &gt; 0 and signed attribution &gt; 0 both mean "toward the tested (non-reference) level".</p>
<h2>Summary</h2>{_small_test(classification_metrics)}<div class="summary">{sentences}</div>
<h2>Classification (test set)</h2>{_classification(classification_metrics)}
<h2>Agreement metrics (with chance levels)</h2>
<p>chance_* columns give what a random ranking of the same genes would score;
"CI" columns are bootstrap intervals over genes (resampled with replacement, hits among hits);
auprc_minus_de is a method's AUPRC minus the DE baseline's p-value ranking's against the truth,
with a paired interval: a method beats the baseline only if it excludes 0.
The full table is in comparison.csv.</p>
{_contrast_sections(comparison, importance, de, figures, n_top, alpha, lfc_threshold, de_name, reference_level)
 if multiclass else
 f'<div class="scroll">{_table(_metrics_table(comparison))}</div>'}
{_ceiling(ceiling, de_name)}
{_significance(significance)}
{_faithfulness(faithfulness)}
{_figures_and_top_genes(importance, de, figures, n_top, alpha, lfc_threshold, de_name, multiclass)}
{extra_html}
</body></html>
"""
    return _write_utf8(run_dir / "report.html", page)
