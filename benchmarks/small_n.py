"""Small cohorts, 5-fold CV: the gene-token transformer against the MLP and classical models.

Every cell is one ``python train.py data=<d> <seed> model=<m> data.cv.folds=5 evaluate=true``
run, so each fold's DESeq2 baseline, attributions and deletion curves come from that fold's
training samples and its test samples only. With a planted truth (the spike-ins and
``simulated_from_real``; the seed is ``data.adata.seed``, which draws the planted genes) a
cell reports the fold-mean test AUROC (± sd over folds), every attribution method's
fold-mean AUPRC against the planted genes (beside the fold-mean chance level, the expected
average precision of a random ranking of the model's genes), the AUPRC of its fold ensemble
(ranks averaged over the folds, ``cv_ensemble.csv``), AUPRC against each fold's DESeq2 hits, deletion-curve
faithfulness (``faithfulness_logloss`` / ``faithfulness_auroc``: extra test log-loss rise /
AUROC drop over deleting random genes; 0 = chance), DESeq2's own AUPRC against the truth on
the same genes, and the wall time. On the real sets (no truth; the seed is ``seed``, which
draws the folds and the model's initialisation) the attribution is scored against DESeq2's hits.

Runs live in ``--out/<dataset>/seed<s>/<model>``; a finished run (``metrics.json``) is reused,
so an interrupted benchmark resumes. Results: ``--out/small_n_methods.csv`` (one row per
method) and ``--out/small_n.csv`` (one row per cell: the best method); the README's table is
printed last.

    python benchmarks/small_n.py                                          # planted truths, seeds 0-2
    python benchmarks/small_n.py --datasets spikein --seeds 0 --models transformer mlp
    python benchmarks/small_n.py --datasets tcga_brca_paired geuvadis_sex montpick yeast_snf2 --seeds 0
    python benchmarks/small_n.py --report-only --models transformer mlp xgboost logreg_l1   # tables of what has run
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
        "attribution.methods=[{name: attention}, {name: grad_attention}, {name: integrated_gradients, n_steps: 16}, "
        "{name: attnlrp}, {name: attnlrp, relevance: token, label: attnlrp_token}]",
    ],
    # The MLP with the transformer's optimiser-step budget: lower validation loss than its defaults
    # (1-2 steps per epoch here), benchmarks/transformer_recipe.py, docs/transformer.md.
    "mlp": ["model=mlp", "data.batch_size=8", "trainer.max_epochs=40", "attribution.methods=[{name: integrated_gradients, n_steps: 16}, {name: input_x_gradient}, {name: saliency}]"],
    "xgboost": ["model=xgboost"],
    "logreg_l1": ["model=logreg_l1"],
}
COMMON = [
    "logger=none", "evaluate=true", "data.n_genes=300", "data.cv.folds=5", "de.genes=expressed", "de.inference=torch",
    "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
]  # fmt: skip
#: Per-dataset overrides: the NB simulation from yeast parameters at a small cohort's size (its default is 200 samples).
DATASET_OVERRIDES: dict[str, list[str]] = {"simulated_from_real": ["data.adata.n_samples=60"]}
#: Data configs with a planted truth, drawn by ``data.adata.seed``; others are real sets without one.
SPIKE_INS = ("spikein", "spikein_geuvadis", "simulated_from_real")


def cell_dir(dataset: str, seed: int, model: str, out: Path) -> Path:
    """Where one cell's run lives (``metrics.json`` there = finished)."""
    return out / dataset / f"seed{seed}" / model


def run_cell(dataset: str, seed: int, model: str, out: Path) -> Path:
    """Train (if not done) one cell and return its run directory."""
    run_dir = cell_dir(dataset, seed, model, out)
    if not (run_dir / "metrics.json").is_file():
        started = time.perf_counter()
        seed_override = [f"data.adata.seed={seed}"] if dataset in SPIKE_INS else [f"seed={seed}"]
        command = [sys.executable, "train.py", f"data={dataset}", *seed_override, *DATASET_OVERRIDES.get(dataset, []),
                   *COMMON, *MODELS[model],
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
         "ensemble_auprc_vs_truth": metrics.get(f"cv/ensemble/auprc_vs_truth/{method}"),
         "ensemble_chance": metrics.get(f"cv/ensemble/chance_auprc/{method}"),
         "faithfulness_auroc": metrics.get(f"eval/faithfulness_auroc/{method}"),
         "faithfulness_logloss": metrics.get(f"eval/faithfulness_logloss/{method}")}
        for method in methods
    ]  # fmt: skip


def _trio(by_method: pd.DataFrame, column: str, fmt: str) -> str:
    """AttnLRP / CLS attention / IG values of ``column`` (the transformer's methods), or a dash."""
    if not {"attnlrp", "attention", "integrated_gradients"} <= set(by_method.index):
        return "–"
    return " / ".join(format(v, fmt) for v in by_method.loc[["attnlrp", "attention", "integrated_gradients"], column])


def readme_table(methods: pd.DataFrame) -> str:
    """The README's table: per dataset, seed and model, test AUROC, the best attribution and faithfulness.

    With a truth (spike-ins, simulations) the best attribution is chosen by fold-mean AUPRC
    against the planted genes, and its fold-ensemble AUPRC (ranks averaged over the folds,
    over the union of the folds' genes, so with its own chance level) stands beside it; on
    real data, by AUPRC against each fold's DESeq2 hits.
    """
    lines = [
        "| data | seed | model | test AUROC | best attribution: AUPRC (× chance) | its fold ensemble | "
        "AttnLRP / CLS attention / IG: AUPRC | most faithful: log-loss (AUROC) | AttnLRP / CLS attention / IG: faithfulness, log-loss | DESeq2 AUPRC vs truth | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, seed), cell in methods.groupby(["dataset", "seed"], sort=True):
        for model, rows in cell.groupby("model", sort=False):
            truth = rows["auprc_vs_truth"].notna().any()
            key, chance = ("auprc_vs_truth", "chance_vs_truth") if truth else ("auprc_vs_deseq2", "chance_vs_deseq2")
            ranked = rows.dropna(subset=[key]).sort_values(key, ascending=False)
            if ranked.empty:
                continue
            best = ranked.iloc[0]
            faithful = rows.dropna(subset=["faithfulness_logloss"]).sort_values("faithfulness_logloss", ascending=False)
            most = (f"{faithful.iloc[0].method} {faithful.iloc[0].faithfulness_logloss:.2f} ({faithful.iloc[0].faithfulness_auroc:.3f})"
                    if len(faithful) else "–")  # fmt: skip
            ensemble = (f"{best.ensemble_auprc_vs_truth:.3f} ({best.ensemble_auprc_vs_truth / best.ensemble_chance:.1f}×)"
                        if truth and pd.notna(best.ensemble_auprc_vs_truth) else "–")  # fmt: skip
            by_method = rows.set_index("method")
            de = f"{best.deseq2_auprc_vs_truth:.3f}" if truth else "–"
            lines.append(
                f"| `{dataset}` | {seed} | {model} | {best.test_auroc:.3f} ± {best.test_auroc_sd:.3f} | {best.method} "
                f"{best[key]:.3f} ({best[key] / best[chance]:.1f}×) | {ensemble} | {_trio(by_method, key, '.3f')} | {most} | "
                f"{_trio(by_method, 'faithfulness_logloss', '.2f')} | {de} | {best.seconds:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(SPIKE_INS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["transformer", "mlp"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "small_n")
    parser.add_argument("--report-only", action="store_true", help="tabulate the finished cells, train none")
    args = parser.parse_args()
    rows = []
    for dataset in args.datasets:
        for seed in args.seeds:
            for model in args.models:
                if args.report_only and not (cell_dir(dataset, seed, model, args.out) / "metrics.json").is_file():
                    continue
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
    print(readme_table(methods))


if __name__ == "__main__":
    main()
