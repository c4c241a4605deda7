"""The cross-validation summary: fold metrics, comparison, gene ranks, ensemble and stability across the folds.

After the folds (:mod:`genexai.pipeline.crossval`), the run directory gets

* ``cv_summary.json`` / ``cv_summary.csv``: every numeric fold metric (``test/auroc``,
  ``eval/auprc_vs_deseq2/<method>``, realised FDR, times, ...) as mean, sd (ddof 1),
  n, min, max and per-fold values; ``metrics.json``: the means (what sweepers read);
* ``cv_comparison.csv``: the attribution-vs-DE comparison table, mean and sd per
  (method, reference, metric) over folds (with ``evaluate=true``);
* ``importance_cv.csv``: per method and gene, the mean rank over folds (rank 1 = most
  important; for the DE baseline: the p-value rank) -- ``mean_rank`` over the folds that
  scored the gene, ``mean_rank_missing_last`` counting a fold that did not (another
  gene selection) as one below its last rank, and ``n_folds``;
* ``cv_ensemble.csv`` (data with a truth, ``var["is_de"]``): that fold-averaged ranking of
  every method scored against the planted genes (AUPRC, AUROC, chance), also in
  ``metrics.json`` as ``cv/ensemble/auprc_vs_truth/<method>`` and ``.../chance_auprc``;
* ``cv_stability.csv``: per method and k, the mean pairwise Jaccard of the top-k gene
  sets across folds, with its chance level (random k-sets, each from the genes its fold
  scored; estimated from 200 seeded draws), plus ``selected_genes`` (DE-based selection): the stability of the model's
  gene set itself, chance = random sets of that size from the genes the DE test ranked.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genexai.de import de_ranking
from genexai.evaluation.ensemble import ensemble_vs_truth
from genexai.evaluation.metrics import jaccard_stability, top_k
from genexai.utils.contrasts import CONTRAST, OMNIBUS
from genexai.utils.files import atomic_write, write_json
from genexai.utils.flatten import flatten

__all__ = ["summarise_cv"]

log = logging.getLogger(__name__)

#: Flattened metric subtrees left out of the CV summary (per-method attribution bookkeeping).
_SKIP_PREFIXES = ("attribution/", "n_samples/")


def _numeric(metrics: dict) -> dict[str, float]:
    """Numeric scalars of a fold's metrics (nested keys joined with ``/``; bools and strings dropped)."""
    return {
        key: float(value)
        for key, value in flatten(metrics).items()
        if isinstance(value, int | float) and not isinstance(value, bool) and not key.startswith(_SKIP_PREFIXES)
    }


def _describe(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    return {
        "mean": float(finite.mean()) if finite.size else math.nan,
        "sd": float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
        "n": int(finite.size),
        "min": float(finite.min()) if finite.size else math.nan,
        "max": float(finite.max()) if finite.size else math.nan,
    }


def _class_agnostic(table: pd.DataFrame) -> pd.DataFrame:
    """The omnibus rows of a per-contrast table (K > 2 classes), else the table: the fold summary ranks genes once."""
    if CONTRAST not in table.columns:
        return table
    return table.loc[table[CONTRAST] == OMNIBUS].drop(columns=CONTRAST)


def _read_importance(fold_dir: Path) -> pd.DataFrame | None:
    for name in ("importance.parquet", "importance.csv"):
        path = fold_dir / name
        if path.is_file():
            return _class_agnostic(pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path))
    return None


def _de_table(fold_dir: Path, metrics: dict) -> tuple[str, pd.DataFrame] | None:
    """The fold's DE baseline table (evaluation) or, failing that, its DE gene-selection table (omnibus rows for K > 2)."""
    path = fold_dir / "evaluation" / "de.csv"
    if path.is_file():
        return str(metrics.get("eval/de_baseline", "deseq2")), _class_agnostic(pd.read_csv(path, index_col="gene"))
    path = fold_dir / "gene_selection.csv"
    if path.is_file():
        return str(metrics.get("gene_selection", {}).get("method", "de")), pd.read_csv(path, index_col="gene")
    return None


def _rankings(fold_dir: Path, metrics: dict) -> dict[str, pd.Series]:
    """``method -> rank per gene`` (1 = top) of one fold: every attribution method and the DE baseline."""
    ranks: dict[str, pd.Series] = {}
    importance = _read_importance(fold_dir)
    if importance is not None:
        for method, table in importance.groupby("method", sort=False):
            scores = table.set_index("gene")["importance"].astype(float)
            ranks[str(method)] = pd.Series(np.arange(1, len(scores) + 1), index=top_k(scores, len(scores)), dtype=float)
    de = _de_table(fold_dir, metrics)
    if de is not None:
        name, table = de
        order = de_ranking(table)
        ranks.setdefault(name, pd.Series(np.arange(1, len(order) + 1), index=order, dtype=float))
    return ranks


def _gene_ranks(per_fold: dict[str, dict[str, pd.Series]]) -> pd.DataFrame:
    """Mean rank per gene and method across folds (``importance_cv.csv``)."""
    methods = list(dict.fromkeys(m for ranks in per_fold.values() for m in ranks))
    frames = []
    for method in methods:
        folds = {fold: ranks[method] for fold, ranks in per_fold.items() if method in ranks}
        table = pd.DataFrame(folds)  # genes x folds, NaN where a fold did not score the gene
        missing_last = table.copy()
        for fold, ranks in folds.items():
            missing_last[fold] = missing_last[fold].fillna(len(ranks) + 1)
        frame = pd.DataFrame({
            "method": method,
            "gene": table.index,
            "mean_rank": table.mean(axis=1).to_numpy(),
            "sd_rank": table.std(axis=1, ddof=1).to_numpy(),
            "mean_rank_missing_last": missing_last.mean(axis=1).to_numpy(),
            "n_folds": table.notna().sum(axis=1).to_numpy(),
            "frac_folds": (table.notna().sum(axis=1) / len(folds)).to_numpy(),
        })
        frames.append(frame.sort_values(["mean_rank_missing_last", "gene"], kind="stable"))
    if not frames:
        return pd.DataFrame(columns=["method", "gene", "mean_rank", "sd_rank", "mean_rank_missing_last", "n_folds", "frac_folds"])
    return pd.concat(frames, ignore_index=True)


def _chance_stability(universes: Sequence[pd.Index], k: int, draws: int = 200, seed: int = 0) -> float:
    """Mean pairwise Jaccard of random k-gene sets, each drawn from its own fold's ranked genes.

    Folds rank different genes (another gene selection per fold), so the chance level is
    estimated by drawing (seeded, ``draws`` times) instead of from one hypergeometric.
    """
    if len(universes) < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    codes = {gene: i for i, gene in enumerate(dict.fromkeys(g for u in universes for g in u))}
    arrays = [np.array([codes[g] for g in u]) for u in universes]
    values = []
    for _ in range(draws):
        sets = [set(rng.choice(a, size=min(k, len(a)), replace=False).tolist()) for a in arrays]
        values.append(jaccard_stability(sets)["stability"])
    return float(np.mean(values))


def _stability(
    per_fold: dict[str, dict[str, pd.Series]], model_genes: dict[str, set], ks: Sequence[int], n_candidates: int | None = None
) -> pd.DataFrame:
    """Mean pairwise Jaccard of top-k sets across folds, per method and k (``cv_stability.csv``).

    Chance levels: random k-sets drawn from the genes each fold ranked
    (:func:`_chance_stability`); for ``selected_genes``, random sets of the selected size
    from the ``n_candidates`` genes the selecting DE test ranked.
    """
    rows = []
    methods = list(dict.fromkeys(m for ranks in per_fold.values() for m in ranks))
    for method in methods:
        rankings = [ranks[method] for ranks in per_fold.values() if method in ranks]
        for k in ks:
            sets = [set(r.index[r <= k]) for r in rankings]
            row = jaccard_stability(sets)
            row["chance_stability"] = _chance_stability([r.index for r in rankings], int(k))
            rows.append({"method": method, "k": int(k), **row})
    if model_genes:
        sets = list(model_genes.values())
        population = n_candidates or len(set().union(*sets))
        sizes = sorted({len(s) for s in sets})
        rows.append({
            "method": "selected_genes", "k": sizes[0] if len(sizes) == 1 else -1, **jaccard_stability(sets, population=population)
        })
    return pd.DataFrame(rows, columns=["method", "k", "stability", "n_sets", "chance_stability"])


def _comparison(run_dir: Path, names: Sequence[str]) -> pd.DataFrame:
    """The per-fold comparison tables, mean and sd per (method, reference, metric) — and contrast, for K > 2 classes."""
    frames = []
    for name in names:
        path = run_dir / name / "evaluation" / "comparison.csv"
        if path.is_file():
            frames.append(pd.read_csv(path).assign(fold=name))
    if not frames:
        return pd.DataFrame(columns=["method", "reference", "metric", "mean", "sd", "n"])
    table = pd.concat(frames, ignore_index=True)
    keys = [CONTRAST, "method", "reference"] if CONTRAST in table.columns else ["method", "reference"]
    numeric = [c for c in table.columns if c not in (*keys, "fold") and pd.api.types.is_numeric_dtype(table[c])]
    long = table.melt(id_vars=[*keys, "fold"], value_vars=numeric, var_name="metric")
    grouped = long.groupby([*keys, "metric"], sort=False)["value"]
    out = grouped.agg(mean="mean", sd=lambda v: v.std(ddof=1), n="count").reset_index()
    return out


def summarise_cv(
    run_dir: str | Path,
    names: Sequence[str],
    *,
    ks: Sequence[int] = (10, 50, 100),
    folds: int | None = None,
    repeats: int = 1,
    truth: pd.Series | None = None,
) -> dict[str, Any]:
    """Aggregate the finished folds among ``names`` in ``run_dir``; write the summary files; return the means.

    Folds without ``metrics.json`` (not run yet, or failed) are left out and listed as
    missing. ``truth`` (planted DE genes, bool by gene) adds the fold-ensemble scores.
    See the module docstring for the files written.
    """
    run_dir = Path(run_dir)
    done = {name: json.loads((run_dir / name / "metrics.json").read_text()) for name in names
            if (run_dir / name / "metrics.json").is_file()}
    values = {name: _numeric(metrics) for name, metrics in done.items()}
    keys = list(dict.fromkeys(k for v in values.values() for k in v))
    described = {key: {**_describe([v.get(key, math.nan) for v in values.values()]),
                       "values": {name: v.get(key) for name, v in values.items()}} for key in keys}

    per_fold_ranks = {name: _rankings(run_dir / name, metrics) for name, metrics in done.items()}
    model_genes = {}  # DE-based selection only: the stability of the model's gene set itself
    for name in done:
        path = run_dir / name / "gene_selection.csv"
        if path.is_file():
            table = pd.read_csv(path, index_col="gene")
            model_genes[name] = set(table.index[table["selected"].astype(bool)])
    gene_ranks = _gene_ranks(per_fold_ranks)
    n_candidates = max((int(m.get("gene_selection", {}).get("n_tested", 0)) for m in done.values()), default=0)
    stability = _stability(per_fold_ranks, model_genes, ks, n_candidates or None)
    comparison = _comparison(run_dir, list(done))

    summary = {
        "folds": folds,
        "repeats": repeats,
        "n_folds_done": len(done),
        "folds_done": list(done),
        "folds_missing": [n for n in names if n not in done],
        "metrics": described,
        "stability": json.loads(stability.to_json(orient="records")),
    }
    write_json(run_dir / "cv_summary.json", summary)
    rows = [{"metric": key, **{s: d[s] for s in ("mean", "sd", "n", "min", "max")}, **d["values"]} for key, d in described.items()]
    atomic_write(run_dir / "cv_summary.csv", lambda tmp: pd.DataFrame(rows).to_csv(tmp, index=False))
    atomic_write(run_dir / "importance_cv.csv", lambda tmp: gene_ranks.to_csv(tmp, index=False))
    atomic_write(run_dir / "cv_stability.csv", lambda tmp: stability.to_csv(tmp, index=False))
    if len(comparison):
        atomic_write(run_dir / "cv_comparison.csv", lambda tmp: comparison.to_csv(tmp, index=False))
    ensemble = ensemble_vs_truth(gene_ranks, truth) if truth is not None and len(gene_ranks) else None
    if ensemble is not None:
        atomic_write(run_dir / "cv_ensemble.csv", lambda tmp: ensemble.to_csv(tmp, index=False))

    metrics: dict[str, Any] = {key: d["mean"] for key, d in described.items()}
    metrics.update({
        "cv/folds": folds, "cv/repeats": repeats, "cv/n_folds_done": len(done),
        **{f"cv/sd/{key}": d["sd"] for key, d in described.items() if key.startswith(("test/", "val/", "eval/"))},
    })
    if ensemble is not None:
        for row in ensemble.itertuples():
            metrics[f"cv/ensemble/auprc_vs_truth/{row.method}"] = row.auprc
            metrics[f"cv/ensemble/chance_auprc/{row.method}"] = row.chance_auprc
    write_json(run_dir / "metrics.json", metrics)
    _print_summary(summary, stability, comparison)
    return metrics


def _print_summary(summary: dict, stability: pd.DataFrame, comparison: pd.DataFrame) -> None:
    metrics = summary["metrics"]
    head = f"cross-validation: {summary['n_folds_done']} of {summary['folds']}x{summary['repeats']} folds done"
    if summary["folds_missing"]:
        head += f" (missing: {', '.join(summary['folds_missing'])})"
    log.info(head)
    for key in ("test/auroc", "test/acc", "test/f1", "val/auroc", "n_genes", "time_s/fold"):
        if key in metrics:
            d = metrics[key]
            log.info("  %-14s %.3f ± %.3f  (n=%d)", key, d["mean"], d["sd"], d["n"])
    if len(comparison):
        wanted = comparison[comparison["metric"].isin(["auprc", "spearman_neglog10p", "realised_fdr", "power"]) & (comparison["n"] > 0)]
        for row in wanted.itertuples():
            where = f" [{row.contrast}]" if CONTRAST in comparison.columns else ""
            log.info("  %s vs %s%s: %s %.3f ± %.3f", row.method, row.reference, where, row.metric, row.mean, row.sd)
    for row in stability.itertuples():
        log.info("  top-%s stability %s: %.3f (chance %.3f)", row.k, row.method, row.stability, row.chance_stability)
