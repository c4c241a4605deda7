"""From finished cells to ``benchmark.csv``, ``summary.md`` and ``summary.html``.

``benchmark.csv`` is tidy: one row per (dataset, model, seed, attribution method,
reference), the reference being the DE baseline's hits (DESeq2 unless `de=` says otherwise) or
the truth. The summaries aggregate
over seeds (mean ± sd), put every score beside its chance level, list DESeq2's own
score against the truth beside the ML methods', report how stable each method's
top-k genes are across seeds, and the cost of every stage.
"""

from __future__ import annotations

import html
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genexai.evaluation.compare import de_label
from genexai.utils.contrasts import CONTRAST
from genexai.utils.files import atomic_write, write_text

__all__ = ["mean_sd", "summarise", "topk_stability"]

STAGES = ("data", "de", "train", "attribution")


def _rows(records: list[dict[str, Any]]) -> pd.DataFrame:
    frames = []
    for rec in records:
        if rec.get("status") != "completed":
            continue
        comparison = pd.read_csv(rec["comparison"])
        for key in ("dataset", "model", "seed", "test_auroc", "n_genes", "n_train"):
            comparison[key] = rec[key]
        for stage in STAGES:
            comparison[f"seconds_{stage}"] = rec["seconds"].get(stage)
            comparison[f"peak_rss_mib_{stage}"] = rec["peak_rss_mib"].get(stage)
        frames.append(comparison)
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    first = ["dataset", "model", "seed", "method", "reference", "test_auroc"]
    if CONTRAST in table.columns:  # K > 2 classes: a line per method and contrast; two-class rows have none
        table[CONTRAST] = table[CONTRAST].fillna("")
        first.insert(4, CONTRAST)
    return table[first + [c for c in table.columns if c not in first]]


def _label(method: str, contrast: str = "") -> str:
    """A method's name in the summary: ``saliency``, or ``saliency [B]`` for one contrast of K > 2 classes."""
    return f"{method} [{contrast}]" if contrast else method


def topk_stability(importance_files: list[str], k: int) -> dict[str, float]:
    """Mean pairwise Jaccard index of each method's top-``k`` genes across runs (seeds).

    1 = every seed picks the same genes; for two random size-k draws out of ``n`` genes
    it is about ``k / (2n - k)``.
    """
    tops: dict[str, list[set[str]]] = {}
    for path in importance_files:
        table = pd.read_csv(path)
        keys = ["method", CONTRAST] if CONTRAST in table.columns else ["method"]
        for key, genes in table[table["rank"] <= k].groupby(keys)["gene"]:
            tops.setdefault(_label(*key) if isinstance(key, tuple) else key, []).append(set(genes))
    stability = {}
    for method, sets in tops.items():
        pairs = [len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2) if a | b]
        stability[method] = float(np.mean(pairs)) if pairs else float("nan")
    return stability


def _chance_jaccard(k: int, n: int) -> float:
    """Expected Jaccard index of two independent random ``k``-gene sets out of ``n``: ``k / (2n - k)``."""
    k = min(k, n)
    return k / (2 * n - k) if n else float("nan")


def mean_sd(values: pd.Series, digits: int = 3) -> str:
    """``mean ± sd`` (ddof 1) of the non-missing values, the value alone for one, ``–`` for none."""
    values = values.dropna()
    if values.empty:
        return "–"
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def de_baseline(table: pd.DataFrame) -> str:
    """The DE baseline of a benchmark (``de=`` in its ``common`` overrides): the reference that is not the truth."""
    names = sorted(set(table["reference"]) - {"truth"}) if "reference" in table else []
    return names[0] if names else "deseq2"


def _scores(table: pd.DataFrame, records: list[dict[str, Any]], k: int) -> pd.DataFrame:
    """One line per dataset × model × method: seed-aggregated scores beside their chance levels."""
    stability: dict[tuple[str, str, str], float] = {}
    completed = [r for r in records if r.get("status") == "completed"]
    for (dataset, model), group in itertools.groupby(sorted(completed, key=lambda r: (r["dataset"], r["model"])),
                                                      key=lambda r: (r["dataset"], r["model"])):
        files = [r["importance"] for r in group if Path(r["importance"]).is_file()]
        for method, value in topk_stability(files, k).items():
            stability[(dataset, model, method)] = value

    lines = []
    de_name = de_baseline(table)
    ml = table[table["method"] != de_name]
    if CONTRAST not in ml.columns:
        ml = ml.assign(**{CONTRAST: ""})
    for (dataset, model, name, contrast), group in ml.groupby(["dataset", "model", "method", CONTRAST], sort=True):
        vs_de = group[group["reference"] == de_name]
        vs_truth = group[group["reference"] == "truth"]
        method = _label(name, contrast)
        lines.append({
            "dataset": dataset,
            "model": model,
            "method": method,
            "seeds": vs_de["seed"].nunique(),
            "test AUROC": mean_sd(vs_de["test_auroc"]),
            "AUPRC vs DE": mean_sd(vs_de["auprc"]),
            "chance": mean_sd(vs_de["chance_auprc"]),
            f"precision@{k} vs DE": mean_sd(vs_de.get(f"precision@{k}", pd.Series(dtype=float))),
            f"chance@{k}": mean_sd(vs_de.get(f"chance_precision@{k}", pd.Series(dtype=float))),
            "AUPRC vs truth": mean_sd(vs_truth["auprc"]) if len(vs_truth) else "–",
            "chance (truth)": mean_sd(vs_truth["chance_auprc"]) if len(vs_truth) else "–",
            f"top-{k} Jaccard across seeds": (
                f"{stability[(dataset, model, method)]:.3f}" if (dataset, model, method) in stability else "–"
            ),
            "chance Jaccard": f"{_chance_jaccard(k, int(vs_de['n_genes'].iloc[0])):.3f}" if len(vs_de) else "–",
        })
    # The DE baseline scored against the truth, once per dataset (its fit does not depend on the model).
    baseline = table[(table["method"] == de_name) & (table["reference"] == "truth")]
    if CONTRAST not in baseline.columns:
        baseline = baseline.assign(**{CONTRAST: ""})
    for (dataset, contrast), group in baseline.groupby(["dataset", CONTRAST]):
        per_split = group.drop_duplicates(["seed", "auprc"])
        lines.append({
            "dataset": dataset, "model": de_label(de_name), "method": _label("padj ranking", contrast),
            "seeds": per_split["seed"].nunique(),
            "test AUROC": "–", "AUPRC vs DE": "–", "chance": "–", f"precision@{k} vs DE": "–", f"chance@{k}": "–",
            "AUPRC vs truth": mean_sd(per_split["auprc"]), "chance (truth)": mean_sd(per_split["chance_auprc"]),
            f"top-{k} Jaccard across seeds": "–", "chance Jaccard": "–",
        })
    return pd.DataFrame(lines).sort_values(["dataset", "model", "method"], kind="stable").reset_index(drop=True)


def _costs(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Median seconds and peak RSS of each stage per dataset × model over seeds (DE: the fit, not its cache hits)."""
    rows = []
    for rec in records:
        if rec.get("status") != "completed":
            continue
        row = {"dataset": rec["dataset"], "model": rec["model"]}
        for stage in STAGES:
            row[f"{stage} s"] = rec["seconds"].get(stage)
            row[f"{stage} peak MiB"] = rec["peak_rss_mib"].get(stage)
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    grouped = pd.DataFrame(rows).groupby(["dataset", "model"], sort=True)
    costs = grouped.median(numeric_only=True)
    # One DESeq2 fit per training split, reused from the cache by the other cells: show the fit, not a cache hit.
    costs[["de s", "de peak MiB"]] = grouped[["de s", "de peak MiB"]].max()
    return costs.round(1).reset_index()


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_none_\n"
    cells = frame.astype(object).where(frame.notna(), "–").astype(str)
    header = "| " + " | ".join(cells.columns) + " |"
    rule = "|" + "|".join("---" for _ in cells.columns) + "|"
    body = ["| " + " | ".join(row) + " |" for row in cells.to_numpy()]
    return "\n".join([header, rule, *body]) + "\n"


def summarise(records: list[dict[str, Any]], out_dir: Path, *, top_k: int) -> pd.DataFrame:
    """Write ``benchmark.csv``, ``summary.md`` and ``summary.html`` into ``out_dir``; return the CSV rows."""
    out_dir = Path(out_dir)
    table = _rows(records)
    atomic_write(out_dir / "benchmark.csv", lambda tmp: table.to_csv(tmp, index=False))
    failed = pd.DataFrame([r for r in records if r.get("status") != "completed"],
                          columns=["dataset", "model", "seed", "error"])
    scores = _scores(table, records, top_k) if not table.empty else pd.DataFrame()
    costs = _costs(records)
    sections = [
        ("Scores (mean ± sd over seeds; every score beside its chance level)", scores),
        ("Cost per stage (median over seeds; DE: its one fit per split; peak = process RSS during the stage)", costs),
        ("Failed cells (rerun the benchmark to retry them)", failed),
    ]
    label = de_label(de_baseline(table)) if not table.empty else "DESeq2"
    intro = (f"{len(records) - len(failed)} of {len(records)} cells completed. "
             f"DE = {label} hits (padj < alpha) on each cell's training samples; truth = planted genes where the data has them.")
    write_text(out_dir / "summary.md", f"# genexai benchmark\n\n{intro}\n\n" + "\n".join(
        f"## {title}\n\n{_markdown(frame)}" for title, frame in sections))
    body = "".join(
        f"<h2>{html.escape(title)}</h2>" + (frame.to_html(index=False, na_rep="–") if not frame.empty else "<p>none</p>")
        for title, frame in sections
    )
    write_text(out_dir / "summary.html", f"<!doctype html><meta charset='utf-8'><title>genexai benchmark</title>"
                                         f"<h1>genexai benchmark</h1><p>{html.escape(intro)}</p>{body}")
    return table
