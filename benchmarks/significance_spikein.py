"""FDR-controlled gene lists on a spike-in truth, over independent replicates: DESeq2 vs ML models.

A realised false discovery proportion (FDP) is one noisy draw; FDR is its expectation over
datasets. So every replicate ``r`` is a new dataset: ``data.adata.seed=r`` draws new A/B groups
from the source individuals and new planted genes and fold changes, and ``seed=r`` a new
train/val/test split and model initialisation. Each configuration is one ``python train.py ...
evaluate=true`` run, so the DESeq2 rows and the ML rows of a replicate come from the same
training samples. Per replicate the table collects ``evaluation/significance.csv``: genes called
at the nominal level (DESeq2 ``padj < alpha`` over every gene it tested, and over the model's
genes; ML ``qvalue < alpha``), false calls, FDP and power. The summary gives, per list, the mean
FDP ± its standard error over replicates (the estimate of the FDR), mean power ± SE, and the
share of replicates whose FDP exceeded alpha; ``fdr_controlled`` is False when the mean FDP is
above alpha by more than 1.645 standard errors (one-sided 5% test of FDR ≤ alpha).

Runs live in ``--out/runs/rep<r>/<name>`` (default ``benchmarks/results/significance_spikein``);
a finished run (its ``significance.csv`` exists) is reused, so an interrupted benchmark resumes.
Tables: ``--out/significance_spikein.csv`` (one row per replicate and list) and
``--out/significance_spikein_summary.csv``; the README's table is printed last.

    python benchmarks/significance_spikein.py                          # 20 replicates (~1 h, 2 cores)
    python benchmarks/significance_spikein.py --replicates 3 --only ridge_decoy
    python benchmarks/significance_spikein.py --report-only            # tables of what has run
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

_MLP = ["model=mlp", "attribution.methods=[{name:integrated_gradients,n_steps:32},{name:saliency}]"]
_RIDGE = [
    "model=logreg_l1", "model.estimator.l1_ratio=0", "model.estimator.C=0.1",
    "model.importance_methods=[{name:coefficients},{name:coef_x_input}]",
]  # fmt: skip
_XGB = ["model=xgboost", "model.importance_methods=[{name:tree_shap},{name:impurity}]"]
#: What a default run measures: both ridge nulls and MLP decoys fit ~1 h for 20 replicates on 2 cores.
DEFAULT_CONFIGURATIONS = ("ridge_decoy", "ridge_permutation", "mlp_decoy")
#: A one-sided 5% test: is the mean FDP over replicates above alpha?
Z_ONE_SIDED = 1.645


def configurations(n_permutations: int, decoy_ratio: float) -> dict[str, list[str]]:
    """Named override lists: each model with the label-permutation null and with decoys."""
    permutation = ["significance=permutation", f"significance.n_permutations={n_permutations}"]
    decoy = ["significance=decoy", f"significance.decoy_ratio={decoy_ratio}"]
    return {
        "mlp_permutation": [*_MLP, *permutation],
        "mlp_decoy": [*_MLP, *decoy],
        "ridge_permutation": [*_RIDGE, *permutation],
        "ridge_decoy": [*_RIDGE, *decoy],
        "xgboost_permutation": [*_XGB, *permutation],
        "xgboost_decoy": [*_XGB, *decoy],
    }


def run_dir(out: Path, replicate: int, name: str) -> Path:
    return out / "runs" / f"rep{replicate}" / name


def run(name: str, replicate: int, overrides: list[str], common: list[str], out: Path) -> Path | None:
    """Train + evaluate one configuration of one replicate (unless already done); its significance table."""
    directory = run_dir(out, replicate, name)
    table = directory / "evaluation" / "significance.csv"
    if table.exists():
        print(f"rep{replicate} {name}: reusing {directory}", flush=True)
        return table
    replicate_overrides = [f"data.adata.seed={replicate}", f"seed={replicate}"]
    command = [sys.executable, str(ROOT / "train.py"), *common, *replicate_overrides, *overrides,
               f"hydra.run.dir={directory}"]  # fmt: skip
    started = time.perf_counter()
    log_path = out / "logs" / f"rep{replicate}_{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0 or not table.exists():
        print(f"rep{replicate} {name} failed (exit {done.returncode}); see {log_path}", flush=True)
        return None
    print(f"rep{replicate} {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return table


def collate(tables: dict[tuple[int, str], Path]) -> pd.DataFrame:
    """Per replicate: the DESeq2 rows of its first run (all its runs fit the same samples), then every ML row."""
    rows, seen = [], set()
    for (replicate, name), path in sorted(tables.items()):
        frame = pd.read_csv(path).assign(replicate=replicate, run=name)
        is_deseq2 = frame["method"].str.startswith("deseq2")
        if replicate not in seen:
            rows.append(frame[is_deseq2].assign(model="deseq2"))
            seen.add(replicate)
        rows.append(frame[~is_deseq2].assign(model=name.rsplit("_", 1)[0]))
    return pd.concat(rows, ignore_index=True)


def _se(values: pd.Series) -> float:
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")


def summarise(per_replicate: pd.DataFrame) -> pd.DataFrame:
    """Mean ± SE over replicates of FDP and power for every list (model, method, significance)."""
    records = []
    for (model, method, kind), group in per_replicate.groupby(["model", "method", "significance"], sort=False):
        fdp, alpha = group["fdp"].astype(float), float(group["alpha"].iloc[0])
        mean_fdp, se_fdp = float(fdp.mean()), _se(fdp)
        records.append({
            "model": model, "method": method, "significance": kind, "alpha": alpha,
            "n_replicates": len(group), "mean_n_called": float(group["n_called"].mean()),
            "mean_fdp": mean_fdp, "se_fdp": se_fdp, "share_fdp_above_alpha": float((fdp > alpha).mean()),
            "mean_power": float(group["power"].mean()), "se_power": _se(group["power"].astype(float)),
            "mean_power_model_genes": float(group["power_model_genes"].mean()),
            "se_power_model_genes": _se(group["power_model_genes"].astype(float)),
            "fdr_controlled": bool(not (mean_fdp - Z_ONE_SIDED * se_fdp > alpha)),
        })  # fmt: skip
    return pd.DataFrame(records)


def markdown(summary: pd.DataFrame) -> str:
    """The README table: one row per list."""
    lines = [
        "| model | method | significance | replicates | called (mean) | realised FDR: mean FDP ± SE | FDP > α | "
        "power, all planted ± SE | power, planted genes seen ± SE | FDR ≤ α? |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary.to_dict("records"):
        lines.append(
            f"| {r['model']} | {r['method']} | {r['significance']} | {r['n_replicates']} | {r['mean_n_called']:.1f} | "
            f"{r['mean_fdp']:.3f} ± {r['se_fdp']:.3f} | {r['share_fdp_above_alpha']:.0%} | "
            f"{r['mean_power']:.3f} ± {r['se_power']:.3f} | {r['mean_power_model_genes']:.3f} ± "
            f"{r['se_power_model_genes']:.3f} | {'yes' if r['fdr_controlled'] else '**no**'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="spikein_geuvadis")
    parser.add_argument("--n-genes", default="1000", help="genes the models see (data.n_genes)")
    parser.add_argument("--n-permutations", type=int, default=200, help="B null models per permutation run")
    parser.add_argument("--decoy-ratio", type=float, default=5.0)
    parser.add_argument("--replicates", type=int, default=20, help="independent spike-in datasets (data.adata.seed)")
    parser.add_argument("--first-replicate", type=int, default=0)
    parser.add_argument("--only", nargs="+", default=list(DEFAULT_CONFIGURATIONS), help="configurations to run")
    parser.add_argument("--report-only", action="store_true", help="tabulate the finished runs, train none")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "significance_spikein")
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides for every run")
    args = parser.parse_args()

    chosen = configurations(args.n_permutations, args.decoy_ratio)
    unknown = sorted(set(args.only) - set(chosen))
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; choose from {sorted(chosen)}")
    args.out.mkdir(parents=True, exist_ok=True)
    common = [f"data={args.data}", f"data.n_genes={args.n_genes}", "evaluate=true", "logger=none",
              "de.inference=torch", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false",
              *args.extra]  # fmt: skip
    tables: dict[tuple[int, str], Path] = {}
    for replicate in range(args.first_replicate, args.first_replicate + args.replicates):
        for name in args.only:
            if args.report_only:
                path = run_dir(args.out, replicate, name) / "evaluation" / "significance.csv"
                path = path if path.exists() else None
            else:
                path = run(name, replicate, chosen[name], common, args.out)
            if path is not None:
                tables[(replicate, name)] = path
    if not tables:
        raise SystemExit(f"no finished run under {args.out / 'runs'}")
    per_replicate = collate(tables)
    per_replicate.to_csv(args.out / "significance_spikein.csv", index=False)
    summary = summarise(per_replicate)
    summary.to_csv(args.out / "significance_spikein_summary.csv", index=False)
    print(markdown(summary))
    print(f"wrote {args.out / 'significance_spikein_summary.csv'}")


if __name__ == "__main__":
    main()
