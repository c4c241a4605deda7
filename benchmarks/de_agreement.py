"""How far the DE gold standards agree with each other: every engine on all samples of each real set.

Engines: PyDESeq2 (``de=deseq2``, default inference), genexai's torch engine
(``de.inference=torch``), R's DESeq2 (``de.inference=r``), edgeR quasi-likelihood
(``de=edger``), limma-voom (``de=limma_voom``) and the Wilcoxon rank-sum test
(``de=wilcoxon``), each through :func:`genexai.de.build_de_method` with its shipped
``configs/de/*.yaml`` options and the dataset config's design (or ``--design``) and reference level, no
cache. Per pair of engines: the Jaccard index of their hit sets (padj < alpha) and the
Spearman correlation of their p-values over the genes both tested; per engine: hits,
genes tested and wall time (median of ``--repeats``, after one untimed warm-up run on 500
genes that loads R's packages). This agreement between tools is
the ceiling against which an attribution's agreement with one of them should be read.

Writes ``engines.csv``, ``pairs.csv`` and ``de_agreement.md`` (the README's table) under
``--out``, both tables into ``docs/de_agreement.md`` (committed), and prints them. R's engines need ``make install-r``; without R they are
left out with a note.

    python benchmarks/de_agreement.py                                   # 7 sets x 6 engines, ~20 min on 2 cores
    python benchmarks/de_agreement.py --datasets pasilla --engines torch r_deseq2 edger limma_voom
    python benchmarks/de_agreement.py --report-only                     # tables again from the CSVs
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from rich.console import Console
from rich.table import Table
from scipy.stats import spearmanr

from genexai.de import build_de_method
from genexai.errors import ConfigError
from genexai.evaluation.metrics import jaccard
from genexai.utils.files import atomic_write, write_text

ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = ROOT.parent / "shared" / "data"
DATASETS = ("pasilla", "airway", "yeast_snf2", "montpick", "tcga_brca_paired", "geuvadis_sex", "gtex_brain_acc_fc")
#: Engine -> (DE config, options beyond it), and its name in tables.
ENGINES = {
    "pydeseq2": ("deseq2", {"inference": "default", "pipeline": "pydeseq2"}, "PyDESeq2"),
    "torch": ("deseq2", {"inference": "torch", "pipeline": "pydeseq2"}, "torch DESeq2, PyDESeq2 steps"),
    "torch_r": ("deseq2", {"inference": "torch", "pipeline": "r"}, "torch DESeq2, R steps"),
    "r_deseq2": ("deseq2", {"inference": "r"}, "R DESeq2"),
    "edger": ("edger", {}, "edgeR QL"),
    "limma_voom": ("limma_voom", {}, "limma-voom"),
    "wilcoxon": ("wilcoxon", {}, "Wilcoxon"),
}


DOC_HEADER = """# How far the DE tools agree (all samples of each real set)

Written by `python benchmarks/de_agreement.py` (do not edit by hand): PyDESeq2, genexai's torch
DESeq2 engine, R's DESeq2, edgeR quasi-likelihood, limma-voom and the Wilcoxon rank-sum test, each
with its shipped `configs/de/*.yaml` options and the design named below, on every sample. Wall
seconds on one core (after one untimed warm-up that loads R's packages). Jaccard = |A and B| /
|A or B| of the hit sets; Spearman over the genes both engines tested.

"""


def shipped_options(config: str) -> dict:
    options = yaml.safe_load((ROOT / "configs" / "de" / f"{config}.yaml").read_text())
    options.pop("cache_dir", None)
    return options


def load(name: str, data_root: Path, design: str | None = None) -> dict:
    """A real set with its config's design and reference level (``design`` replaces the design)."""
    config = yaml.safe_load((ROOT / "configs" / "data" / f"{name}.yaml").read_text())
    folder = data_root / name
    return {
        "counts": pd.read_csv(folder / "counts.csv.gz", index_col="sample"),
        "metadata": pd.read_csv(folder / "metadata.csv", index_col="sample"),
        "design": design or config.get("design", "~condition"),
        "ref_level": config.get("reference_level"),
    }


def run_engine(engine: str, data: dict, repeats: int) -> tuple[pd.DataFrame, float]:
    config, extra, _ = ENGINES[engine]
    method = build_de_method({**shipped_options(config), **extra})
    method.check_available()
    # One untimed run on a slice of the genes: R loads its packages, torch its kernels, once per process.
    method.test(data["counts"].iloc[:, :500], data["metadata"], design=data["design"], ref_level=data["ref_level"])
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        table, _ = method.test(data["counts"], data["metadata"], design=data["design"], ref_level=data["ref_level"])
        seconds.append(time.perf_counter() - started)
    return table, statistics.median(seconds)


def pair_row(dataset: str, a: str, b: str, tables: dict[str, pd.DataFrame], alpha: float) -> dict:
    hits = {e: set(tables[e].index[tables[e]["padj"] < alpha]) for e in (a, b)}
    both = tables[a]["pvalue"].notna() & tables[b]["pvalue"].notna()
    rho = spearmanr(tables[a].loc[both, "pvalue"], tables[b].loc[both, "pvalue"]).statistic if both.sum() > 2 else np.nan
    return {"dataset": dataset, "engine_a": a, "engine_b": b, "jaccard": jaccard(hits[a], hits[b]),
            "spearman_pvalue": float(rho), "genes_both_tested": int(both.sum()),
            "hits_a": len(hits[a]), "hits_b": len(hits[b]), "hits_both": len(hits[a] & hits[b])}  # fmt: skip


def _relative(a: pd.Series, b: pd.Series) -> np.ndarray:
    both = a.notna() & b.notna() & (b != 0)
    return (np.abs(a[both] - b[both]) / np.abs(b[both])).to_numpy()


def against_r_row(dataset: str, engine: str, tables: dict[str, pd.DataFrame], alpha: float) -> dict:
    """How close one DESeq2 engine is to R's DESeq2: hit-set Jaccard, relative differences, the padj NaN pattern."""
    ours, r = tables[engine], tables["r_deseq2"].reindex(tables[engine].index)
    row = {"dataset": dataset, "engine": engine,
           "jaccard": jaccard(set(ours.index[ours["padj"] < alpha]), set(r.index[r["padj"] < alpha])),
           "same_padj_nan": float((ours["padj"].isna() == r["padj"].isna()).mean())}  # fmt: skip
    for column in ("log2FoldChange", "pvalue", "padj"):
        diff = _relative(ours[column], r[column])
        row[f"median_rel_{column}"] = float(np.median(diff)) if diff.size else np.nan
        row[f"max_rel_{column}"] = float(diff.max()) if diff.size else np.nan
    return row


def against_r_markdown(rows: pd.DataFrame) -> str:
    """The table of :func:`against_r_row` rows: DESeq2 engines (PyDESeq2's steps or R's) against R's DESeq2."""
    lines = ["| dataset | engine | hit-set Jaccard | same padj NaN | LFC median / max rel. diff | p median / max | padj median / max |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows.to_dict("records"):
        cells = [f"{row[f'median_rel_{c}']:.1e} / {row[f'max_rel_{c}']:.1e}" for c in ("log2FoldChange", "pvalue", "padj")]
        lines.append(f"| {row['dataset']} | {ENGINES[row['engine']][2]} | {row['jaccard']:.4f} | "
                     f"{100 * row['same_padj_nan']:.2f} % | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(engines: pd.DataFrame, pairs: pd.DataFrame, alpha: float) -> str:
    """Per dataset: hits and seconds per engine, and the Jaccard of each engine's hits with R DESeq2's."""
    reference = "r_deseq2" if "r_deseq2" in set(engines["engine"]) else engines["engine"].iloc[0]
    names = [e for e in ENGINES if e in set(engines["engine"])]
    lines = [
        f"Hits (padj < {alpha:g}), seconds, and hit-set Jaccard with {ENGINES[reference][2]} "
        f"(all samples; design {' / '.join(dict.fromkeys(engines['design']))}):\n",
        "| dataset | n | genes | " + " | ".join(ENGINES[e][2] for e in names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for dataset, group in engines.groupby("dataset", sort=False):
        cells = []
        for engine in names:
            row = group[group["engine"] == engine]
            if row.empty:
                cells.append("–")
                continue
            row = row.iloc[0]
            match = pairs[(pairs["dataset"] == dataset) & (
                ((pairs["engine_a"] == engine) & (pairs["engine_b"] == reference))
                | ((pairs["engine_b"] == engine) & (pairs["engine_a"] == reference)))]  # fmt: skip
            share = "" if engine == reference or match.empty else f", J {match['jaccard'].iloc[0]:.2f}"
            cells.append(f"{int(row['hits'])} ({row['seconds']:.1f} s{share})")
        first = group.iloc[0]
        lines.append(f"| {dataset} | {int(first['n_samples'])} | {int(first['n_genes']):,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def pairs_markdown(pairs: pd.DataFrame, alpha: float) -> str:
    """Every pair of engines on every dataset: hit-set Jaccard, p-value Spearman, hits of each and of both."""
    lines = [
        f"| dataset | engines | Jaccard of hits (padj < {alpha:g}) | Spearman of p | hits a / b / both |",
        "|---|---|---|---|---|",
    ]
    for row in pairs.to_dict("records"):
        lines.append(f"| {row['dataset']} | {ENGINES[row['engine_a']][2]} – {ENGINES[row['engine_b']][2]} | "
                     f"{row['jaccard']:.3f} | {row['spearman_pvalue']:.3f} | "
                     f"{row['hits_a']} / {row['hits_b']} / {row['hits_both']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--engines", nargs="*", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per engine (median reported)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--design", default=None, help="one design for every set (default: each config's), e.g. '~condition'")
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "de_agreement")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "de_agreement.md",
                        help="committed page with both tables (regenerated here); 'none' to skip")
    parser.add_argument("--report-only", action="store_true", help="rewrite the tables from --out's CSVs, fit nothing")
    args = parser.parse_args()
    args.docs = None if str(args.docs) == "none" else args.docs
    console = Console(width=200)
    engine_rows: list[dict] = []
    pair_rows: list[dict] = []
    r_rows: list[dict] = []
    if args.report_only:  # the tables again from a finished run's CSVs
        engine_rows = pd.read_csv(args.out / "engines.csv").to_dict("records")
        pair_rows = pd.read_csv(args.out / "pairs.csv").to_dict("records")
        if (args.out / "against_r.csv").is_file():
            r_rows = pd.read_csv(args.out / "against_r.csv").to_dict("records")
    for dataset in [] if args.report_only else args.datasets:
        data = load(dataset, args.data_root, args.design)
        tables: dict[str, pd.DataFrame] = {}
        for engine in args.engines:
            try:
                tables[engine], seconds = run_engine(engine, data, args.repeats)
            except ConfigError as err:
                console.print(f"{dataset} {engine}: left out ({err})")
                continue
            table = tables[engine]
            engine_rows.append({"dataset": dataset, "engine": engine, "n_samples": len(data["counts"]),
                                "n_genes": data["counts"].shape[1], "design": data["design"], "seconds": seconds,
                                "hits": int((table["padj"] < args.alpha).sum()),
                                "tested": int(table["pvalue"].notna().sum())})  # fmt: skip
            console.print(f"{dataset} {engine}: {engine_rows[-1]['hits']} hits, {seconds:.1f} s")
        for a, b in itertools.combinations(tables, 2):
            pair_rows.append(pair_row(dataset, a, b, tables, args.alpha))
        if "r_deseq2" in tables:
            r_rows += [against_r_row(dataset, e, tables, args.alpha) for e in ("pydeseq2", "torch", "torch_r") if e in tables]
        engines, pairs = pd.DataFrame(engine_rows), pd.DataFrame(pair_rows)
        args.out.mkdir(parents=True, exist_ok=True)  # keep what is done if a later dataset fails
        atomic_write(args.out / "against_r.csv", lambda tmp: pd.DataFrame(r_rows).to_csv(tmp, index=False))
        atomic_write(args.out / "engines.csv", lambda tmp: engines.to_csv(tmp, index=False))
        atomic_write(args.out / "pairs.csv", lambda tmp: pairs.to_csv(tmp, index=False))
    engines, pairs = pd.DataFrame(engine_rows), pd.DataFrame(pair_rows)
    text = markdown(engines, pairs, args.alpha)
    write_text(args.out / "de_agreement.md", text)
    if args.docs is not None:
        closeness = (
            "\n## DESeq2 engines against R's DESeq2\n\n`torch DESeq2, R steps` is `de.inference=torch de.pipeline=r` "
            "(genexai.de.rfaithful, the default pipeline): R's gene-wise and MAP dispersion line search, trend, prior, "
            "GLM fit, Wald errors and filtering lowess; `PyDESeq2` and `torch DESeq2, PyDESeq2 steps` are "
            "`de.pipeline=pydeseq2`.\n\n"
            + against_r_markdown(pd.DataFrame(r_rows)) if r_rows else ""
        )
        write_text(args.docs, DOC_HEADER + text + closeness + "\n## Every pair of engines\n\n" + pairs_markdown(pairs, args.alpha))
    table = Table(title=f"DE engines pairwise: hit-set Jaccard (padj < {args.alpha:g}) / Spearman of p-values")
    for column in ("dataset", "pair", "jaccard", "spearman p", "hits a / b / both"):
        table.add_column(column, justify="right")
    for row in pair_rows:
        table.add_row(row["dataset"], f"{row['engine_a']} – {row['engine_b']}", f"{row['jaccard']:.3f}",
                      f"{row['spearman_pvalue']:.3f}", f"{row['hits_a']} / {row['hits_b']} / {row['hits_both']}")
    console.print(table)
    console.print(text)
    console.print(f"CSV and markdown: {args.out}")


if __name__ == "__main__":
    main()
