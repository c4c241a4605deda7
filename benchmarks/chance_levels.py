"""Chance AUPRC of the small-cohort benchmark's cells: the hit prevalence vs a random ranking's expected AP.

Until issue 17 genexai reported the prevalence (planted genes / genes scored) as chance AUPRC;
a random ranking's expected average precision is higher when the planted genes are few
(:func:`~genexai.evaluation.metrics.expected_average_precision`). Both depend only on which
genes each fold's model sees and which of them are planted, not on training, so this script
rebuilds every fold's data module with ``benchmarks/small_n.py``'s settings (variance
selection on that fold's training samples) and prints, per dataset and seed, the fold means of
both chance levels and their ratio: a lift "× chance" computed with the prevalence shrinks by
that ratio. Seconds per cell.

    python benchmarks/chance_levels.py
    python benchmarks/chance_levels.py --datasets spikein_geuvadis --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import runpy
from pathlib import Path

import numpy as np
import pandas as pd

from genexai.pipeline.build import build_datamodule
from genexai.config import load_config
from genexai.evaluation.metrics import expected_average_precision, planted_de

ROOT = Path(__file__).resolve().parents[1]
SMALL_N = runpy.run_path(str(ROOT / "benchmarks" / "small_n.py"))
#: The data-side overrides of small_n's runs (training options do not change which genes are scored).
DATA_PREFIXES = ("data.",)


def fold_chance(dataset: str, seed: int) -> pd.DataFrame:
    """One row per CV fold: genes scored, planted among them, prevalence and expected AP."""
    overrides = [o for o in SMALL_N["COMMON"] if o.startswith(DATA_PREFIXES)]
    overrides += [f"data={dataset}", f"data.adata.seed={seed}", *SMALL_N["DATASET_OVERRIDES"].get(dataset, [])]
    module = build_datamodule(load_config("train", [*overrides, "+data.fold=0"]))  # reads the data once
    rows = []
    for fold in range(module.cv_folds):
        fold_module = module.with_fold(fold)
        fold_module.setup()
        truth = planted_de(fold_module.adata.var)
        n, hits = fold_module.n_genes, int(truth.loc[fold_module.gene_names].sum())
        rows.append({"fold": fold, "n_genes": n, "n_planted": hits, "prevalence": hits / n,
                     "expected_ap": expected_average_precision(n, hits)})  # fmt: skip
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(SMALL_N["SPIKE_INS"]))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "chance_levels.csv")
    args = parser.parse_args()

    cells = []
    for dataset in args.datasets:
        for seed in args.seeds:
            folds = fold_chance(dataset, seed)
            cells.append({
                "data": dataset, "seed": seed, "planted_per_fold": float(folds["n_planted"].mean()),
                "prevalence": float(folds["prevalence"].mean()), "expected_ap": float(folds["expected_ap"].mean()),
            })  # fmt: skip
    table = pd.DataFrame(cells)
    table["ratio"] = table["expected_ap"] / table["prevalence"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print("| data | seed | planted genes among the 300 (fold mean) | chance before: prevalence | chance now: expected AP | ratio |")
    print("|---|---|---|---|---|---|")
    for r in table.to_dict("records"):
        print(f"| `{r['data']}` | {r['seed']} | {r['planted_per_fold']:.1f} | {r['prevalence']:.4f} | "
              f"{r['expected_ap']:.4f} | {r['ratio']:.3f} |")  # fmt: skip
    print(f"wrote {args.out}; ratio range {np.min(table['ratio']):.3f}-{np.max(table['ratio']):.3f}")


if __name__ == "__main__":
    main()
