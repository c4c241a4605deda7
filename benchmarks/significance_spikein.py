"""FDR-controlled gene lists on a spike-in truth: DESeq2 vs ML models with significance.

Each configuration is one ``python train.py ... evaluate=true`` run on ``data=spikein_geuvadis``
(44 GEUVADIS individuals split at random into A/B, known fold changes planted by binomial
thinning), so the DESeq2 row and every ML row come from the same training samples. The table
collects ``evaluation/significance.csv`` of every run: genes called at the nominal level
(DESeq2 ``padj < alpha``, ML ``qvalue < alpha``), true and false calls, the realised false
discovery proportion (``fdp``, next to the nominal alpha) and power (over all planted genes, and
over the planted genes the model saw).

Runs live in ``--out/runs/<name>`` (default ``benchmarks/results/significance_spikein``), the
table in ``--out/significance_spikein.csv``; a finished run (its ``significance.csv`` exists) is
reused, so an interrupted benchmark resumes where it stopped.

    python benchmarks/significance_spikein.py                          # all configurations
    python benchmarks/significance_spikein.py --only mlp_decoy ridge_decoy
    python benchmarks/significance_spikein.py --data spikein --n-genes 500
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]

_MLP = ["model=mlp", "attribution.methods=[{name:integrated_gradients,n_steps:32},{name:saliency}]"]
_RIDGE = [
    "model=logreg_l1", "model.estimator.l1_ratio=0", "model.estimator.C=0.1",
    "model.importance_methods=[{name:coefficients},{name:coef_x_input}]",
]  # fmt: skip
_XGB = ["model=xgboost", "model.importance_methods=[{name:tree_shap},{name:impurity}]"]
SHOWN = (
    "model", "method", "significance", "n_tested", "n_true_tested", "n_called", "true_calls", "false_calls",
    "fdp", "power", "power_model_genes", "jaccard_deseq2",
)  # fmt: skip


def configurations(n_permutations: int, decoy_ratio: float) -> dict[str, list[str]]:
    """Named override lists: each model with the label-permutation null and with decoys."""
    permutation = ["significance=permutation"]
    decoy = ["significance=decoy", f"significance.decoy_ratio={decoy_ratio}"]
    return {
        "mlp_permutation": [*_MLP, *permutation, f"significance.n_permutations={n_permutations}"],
        "mlp_decoy": [*_MLP, *decoy],
        "ridge_permutation": [*_RIDGE, *permutation, f"significance.n_permutations={n_permutations}"],
        "ridge_decoy": [*_RIDGE, *decoy],
        "xgboost_permutation": [*_XGB, *permutation, f"significance.n_permutations={n_permutations}"],
        "xgboost_decoy": [*_XGB, *decoy],
    }


def run(name: str, overrides: list[str], common: list[str], out: Path, console: Console) -> Path:
    """Train + evaluate one configuration (unless already done); return its significance table."""
    run_dir = out / "runs" / name
    table = run_dir / "evaluation" / "significance.csv"
    if table.exists():
        console.print(f"[dim]{name}: reusing {run_dir}[/dim]")
        return table
    command = [sys.executable, str(ROOT / "train.py"), *common, *overrides, f"hydra.run.dir={run_dir}"]
    console.print(f"{name}: {' '.join(command[2:])}")
    started = time.perf_counter()
    with open(out / f"{name}.log", "w") as log:
        done = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0 or not table.exists():
        raise SystemExit(f"{name} failed (exit {done.returncode}); see {out / f'{name}.log'}")
    console.print(f"{name}: {time.perf_counter() - started:.0f} s")
    return table


def collate(tables: dict[str, Path]) -> pd.DataFrame:
    """One DESeq2 row (the first run's: every run fits the same samples), then one row per (run, method)."""
    frames = {name: pd.read_csv(path) for name, path in tables.items()}
    first_name, first = next(iter(frames.items()))
    rows = [first[first["method"].eq("deseq2")].assign(run=first_name, model="deseq2")]
    for name, frame in frames.items():
        ml = frame[~frame["method"].str.startswith("deseq2")]
        rows.append(ml.assign(run=name, model=name.rsplit("_", 1)[0]))
    return pd.concat(rows, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="spikein_geuvadis")
    parser.add_argument("--n-genes", default="1000", help="genes the models see (data.n_genes)")
    parser.add_argument("--n-permutations", type=int, default=1000, help="B null models per permutation run")
    parser.add_argument("--decoy-ratio", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", help="run only these configurations")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "significance_spikein")
    parser.add_argument("--extra", nargs="*", default=[], help="more overrides for every run")
    args = parser.parse_args()

    console = Console(width=200)
    args.out.mkdir(parents=True, exist_ok=True)
    common = [f"data={args.data}", f"data.n_genes={args.n_genes}", f"seed={args.seed}",
              "evaluate=true", "logger=none", *args.extra]  # fmt: skip
    chosen = configurations(args.n_permutations, args.decoy_ratio)
    if args.only:
        unknown = sorted(set(args.only) - set(chosen))
        if unknown:
            parser.error(f"unknown configuration(s) {unknown}; choose from {sorted(chosen)}")
        chosen = {name: chosen[name] for name in args.only}
    tables = {name: run(name, overrides, common, args.out, console) for name, overrides in chosen.items()}

    result = collate(tables)
    result.to_csv(args.out / "significance_spikein.csv", index=False)
    table = Table(title=f"{args.data}: genes called at nominal FDR {result['alpha'].iloc[0]}")
    for column in SHOWN:
        table.add_column(column)
    for record in result.to_dict("records"):
        table.add_row(*(f"{record[c]:.3f}" if isinstance(record[c], float) else str(record[c]) for c in SHOWN))
    console.print(table)
    console.print(f"wrote {args.out / 'significance_spikein.csv'}")


if __name__ == "__main__":
    main()
