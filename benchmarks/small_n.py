"""Small cohorts, 5-fold CV: the gene-token transformer against the MLP and classical models, on spike-in truths.

Every cell is one ``python train.py data=<d> data.adata.seed=<s> model=<m> data.cv.folds=5
evaluate=true`` run, so each fold's DESeq2 baseline, attributions and deletion curves come
from that fold's training samples and its test samples only. Per cell the table reports the
fold-mean test AUROC (± sd over folds), every attribution method's fold-mean AUPRC against
the planted genes (beside the fold-mean chance level, the prevalence among the model's genes)
and against DESeq2's hits, its deletion-curve faithfulness (``faithfulness_auroc``: extra
test-AUROC drop over deleting random genes; 0 = chance), DESeq2's own AUPRC against the truth
on the same genes, and the wall time.

Runs live in ``--out/<dataset>/seed<s>/<model>``; a finished run (``metrics.json``) is reused,
so an interrupted benchmark resumes. Results: ``--out/small_n_methods.csv`` (one row per
method) and ``--out/small_n.csv`` (one row per cell: the best method by AUPRC vs truth).

    python benchmarks/small_n.py                                          # spike-ins, seeds 0-2
    python benchmarks/small_n.py --datasets spikein --seeds 0 --models transformer mlp
    python benchmarks/small_n.py --datasets tcga_brca_paired geuvadis_sex montpick yeast_snf2 --seeds 0
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

MODELS: dict[str, list[str]] = {
    "transformer": [
        "model=transformer",
        "attribution.methods=[{name: attention}, {name: attention_rollout}, {name: grad_attention}, "
        "{name: integrated_gradients, n_steps: 16}, {name: saliency}, {name: attnlrp}]",
    ],
    "mlp": ["model=mlp", "attribution.methods=[{name: integrated_gradients, n_steps: 16}, {name: input_x_gradient}, {name: saliency}]"],
    "xgboost": ["model=xgboost"],
    "logreg_l1": ["model=logreg_l1"],
}
COMMON = [
    "logger=none", "evaluate=true", "data.n_genes=300", "data.cv.folds=5", "de.genes=expressed", "de.inference=torch",
    "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
]  # fmt: skip
#: Data configs whose spike-in seed is ``data.adata.seed``; others are real sets without a truth.
SPIKE_INS = ("spikein", "spikein_geuvadis")


def run_cell(dataset: str, seed: int, model: str, out: Path) -> Path:
    """Train (if not done) one cell and return its run directory."""
    run_dir = out / dataset / f"seed{seed}" / model
    if not (run_dir / "metrics.json").is_file():
        started = time.perf_counter()
        seed_override = [f"data.adata.seed={seed}"] if dataset in SPIKE_INS else [f"seed={seed}"]
        command = [sys.executable, "train.py", f"data={dataset}", *seed_override, *COMMON, *MODELS[model],
                   f"hydra.run.dir={run_dir}"]  # fmt: skip
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"{run_dir}: train.py failed:\n{result.stderr[-3000:]}")
        print(f"{dataset}/seed{seed}/{model}: {time.perf_counter() - started:.0f} s", flush=True)
    return run_dir


def fold_chance(run_dir: Path, reference: str) -> float | None:
    """Fold-mean chance AUPRC against ``reference`` (``truth`` or the DE baseline) among the model's genes."""
    values = []
    for path in sorted(run_dir.glob("fold_*/evaluation/comparison.csv")):
        table = pd.read_csv(path)
        rows = table[(table["reference"] == reference) & (table["method"] != "deseq2")]
        values.extend(rows["chance_auprc"].dropna().tolist()[:1])
    return sum(values) / len(values) if values else None


def method_rows(dataset: str, seed: int, model: str, run_dir: Path) -> list[dict]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    methods = sorted({key.split("/", 2)[2] for key in metrics if key.startswith("eval/auprc_vs_deseq2/")})
    base = {
        "dataset": dataset, "seed": seed, "model": model,
        "test_auroc": metrics.get("test/auroc"), "test_auroc_sd": metrics.get("cv/sd/test/auroc"),
        "chance_vs_truth": fold_chance(run_dir, "truth"), "chance_vs_deseq2": fold_chance(run_dir, "deseq2"),
        "deseq2_auprc_vs_truth": metrics.get("eval/auprc_vs_truth/deseq2"), "seconds": metrics.get("cv/time_s/total"),
    }  # fmt: skip
    return [
        {**base, "method": method,
         "auprc_vs_truth": metrics.get(f"eval/auprc_vs_truth/{method}"),
         "auprc_vs_truth_sd": metrics.get(f"cv/sd/eval/auprc_vs_truth/{method}"),
         "auprc_vs_deseq2": metrics.get(f"eval/auprc_vs_deseq2/{method}"),
         "faithfulness_auroc": metrics.get(f"eval/faithfulness_auroc/{method}"),
         "faithfulness_logloss": metrics.get(f"eval/faithfulness_logloss/{method}")}
        for method in methods
    ]  # fmt: skip


def readme_table(methods: pd.DataFrame) -> str:
    """The README's table: per dataset and seed, each model's test AUROC and best attribution, and the transformer's faithfulness."""
    lines = [
        "| data | seed | model | test AUROC | best attribution: AUPRC vs truth (× chance) | AttnLRP / CLS attention / IG: AUPRC vs truth | faithfulness, log-loss (AUROC): AttnLRP / CLS attention / IG | DESeq2 AUPRC vs truth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, seed), cell in methods.groupby(["dataset", "seed"], sort=True):
        for model, rows in cell.groupby("model", sort=False):
            best = rows.sort_values("auprc_vs_truth", ascending=False).iloc[0]
            by_method = rows.set_index("method")
            trio = faith = "–"
            if {"attnlrp", "attention", "integrated_gradients"} <= set(by_method.index):
                picked = by_method.loc[["attnlrp", "attention", "integrated_gradients"]]
                trio = " / ".join(f"{v:.3f}" for v in picked["auprc_vs_truth"])
                faith = " / ".join(f"{r.faithfulness_logloss:.2f} ({r.faithfulness_auroc:.3f})" for r in picked.itertuples())
            lines.append(
                f"| `{dataset}` | {seed} | {model} | {best.test_auroc:.3f} ± {best.test_auroc_sd:.3f} | {best.method} "
                f"{best.auprc_vs_truth:.3f} ({best.auprc_vs_truth / best.chance_vs_truth:.1f}×) | {trio} | {faith} | "
                f"{best.deseq2_auprc_vs_truth:.3f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(SPIKE_INS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["transformer", "mlp"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "small_n")
    args = parser.parse_args()
    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            for model in args.models:
                rows.extend(method_rows(dataset, seed, model, run_cell(dataset, seed, model, args.out)))
    methods = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    methods.to_csv(args.out / "small_n_methods.csv", index=False)
    has_truth = methods["auprc_vs_truth"].notna().any()
    key = "auprc_vs_truth" if has_truth else "auprc_vs_deseq2"
    best = methods.sort_values(key, ascending=False).groupby(["dataset", "seed", "model"], sort=False).head(1)
    best = best.sort_values(["dataset", "seed", "model"])
    best.to_csv(args.out / "small_n.csv", index=False)
    shown = ["dataset", "seed", "model", "test_auroc", "test_auroc_sd", "method", key,
             "chance_vs_truth" if has_truth else "chance_vs_deseq2", "faithfulness_auroc", "seconds"]  # fmt: skip
    print(best[shown].round(3).to_string(index=False))
    if has_truth:
        print(readme_table(methods))


if __name__ == "__main__":
    main()
