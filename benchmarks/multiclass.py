"""Three groups end to end: per-contrast and omnibus AUPRC of every attribution vs DESeq2's hits and the planted truth.

Each case is one ``python train.py ... data.adata.n_groups=3 evaluate=true`` run (simulated
NB counts, and the yeast wild-type spike-in split at random into three groups with genes
planted per contrast by binomial thinning), for the MLP and the transformer, over
``--seeds`` (the split and the model; the dataset stays fixed). The table written to
``docs/multiclass.md`` (and the CSV under ``--out``) gives, per case, contrast and
reference, the test macro AUROC, the best attribution method's AUPRC, the DE baseline's
own AUPRC against the truth, and the chance AUPRC, as mean ± sd over seeds.

Runs live in ``--out/<case>/seed_<s>`` (default ``benchmarks/results/multiclass``); a finished
run (its ``metrics.json`` exists) is reused, so an interrupted benchmark resumes.

    python benchmarks/multiclass.py                        # 4 cases x 3 seeds (~25 min on 2 CPU cores)
    python benchmarks/multiclass.py --seeds 0 --only sim3_mlp
    python benchmarks/multiclass.py --report-only          # redraw docs/multiclass.md from the runs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from genexai.benchmarking.summary import mean_sd

ROOT = Path(__file__).resolve().parents[1]

CASES: dict[str, list[str]] = {
    "sim3_mlp": ["data.adata.n_groups=3"],
    "sim3_transformer": ["data.adata.n_groups=3", "model=transformer"],
    "spikein3_mlp": ["data=spikein", "data.adata.n_groups=3"],
    "spikein3_transformer": ["data=spikein", "data.adata.n_groups=3", "model=transformer"],
}
COMMON = [
    "evaluate=true", "de.inference=torch", "logger=none", "~callbacks.rich_progress_bar",
    "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
]  # fmt: skip


def run(case: str, seed: int, out: Path) -> Path:
    """The run directory of one case and seed, training it if needed."""
    run_dir = out / case / f"seed_{seed}"
    if not (run_dir / "metrics.json").is_file():
        command = [sys.executable, str(ROOT / "train.py"), *CASES[case], *COMMON, f"seed={seed}", f"hydra.run.dir={run_dir}"]
        print(" ".join(command[1:]), flush=True)
        subprocess.run(command, check=True, cwd=ROOT)
    return run_dir


def rows(case: str, seed: int, run_dir: Path) -> list[dict]:
    """Per contrast and reference: the best attribution's AUPRC, the DE baseline's (vs truth) and chance."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    comparison = pd.read_csv(run_dir / "evaluation" / "comparison.csv")
    de_name = metrics.get("eval/de_baseline", "deseq2")
    out = []
    for (contrast, reference), group in comparison.groupby(["contrast", "reference"], sort=False):
        attributions = group[group["method"] != de_name].dropna(subset=["auprc"])
        best = attributions.loc[attributions["auprc"].idxmax()]
        baseline = group.loc[group["method"] == de_name, "auprc"]
        out.append({
            "case": case, "seed": seed, "contrast": contrast, "reference": reference,
            "test_macro_auroc": metrics["test/auroc"], "n_hits": int(best["n_hits"]),
            "best_method": best["method"], "best_auprc": best["auprc"],
            "de_auprc": float(baseline.iloc[0]) if len(baseline) else float("nan"),
            "chance_auprc": best["chance_auprc"],
        })  # fmt: skip
    return out


def report(table: pd.DataFrame) -> str:
    """The markdown table of docs/multiclass.md: mean ± sd over seeds, per case, contrast and reference."""
    lines = [
        "| case | contrast | reference | seeds | test macro AUROC | hits | best attribution (most often) | its AUPRC |"
        " DESeq2's own AUPRC | chance AUPRC |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (case, contrast, reference), group in table.groupby(["case", "contrast", "reference"], sort=False):
        lines.append(
            f"| {case} | {contrast} | {reference} | {group['seed'].nunique()} | {mean_sd(group['test_macro_auroc'])} | "
            f"{mean_sd(group['n_hits'].astype(float), 0)} | {group['best_method'].mode().iloc[0]} | "
            f"{mean_sd(group['best_auprc'])} | {mean_sd(group['de_auprc'])} | {mean_sd(group['chance_auprc'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "multiclass")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--report-only", action="store_true", help="only summarise the runs already there")
    args = parser.parse_args()
    records = []
    for case in args.only:
        for seed in args.seeds:
            run_dir = args.out / case / f"seed_{seed}"
            if not args.report_only:
                run_dir = run(case, seed, args.out)
            if (run_dir / "metrics.json").is_file():
                records.extend(rows(case, seed, run_dir))
    table = pd.DataFrame(records)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "multiclass.csv", index=False)
    text = (
        "# Three groups: per-contrast and omnibus agreement\n\n"
        "Generated by `python benchmarks/multiclass.py` (torch DESeq2 engine; `evaluate=true`). Per contrast (class k vs "
        "the reference A) the attributions explaining z_k − z_A are scored against DESeq2's Wald hits of k vs A and the "
        "genes planted in that contrast; `omnibus` scores each method's largest importance over the contrasts against "
        "DESeq2's LRT hits and the genes planted in any contrast. Mean ± sd over seeds (split and model).\n\n"
        + report(table)
    )
    (ROOT / "docs" / "multiclass.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
