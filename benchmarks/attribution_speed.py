"""Attribution cost: seconds per sample of every method, on the MLP and the transformer.

Attribution cost does not depend on what the weights learned, so the models are
freshly initialised (seeded) backbones of the configured size; inputs are standard
normal, as after genexai's preprocessing. Each (model, genes, method) is timed
``--repeats`` times on the same batch; the table reports the median per sample.

    python benchmarks/attribution_speed.py                          # CPU, 300 and 1000 genes
    python benchmarks/attribution_speed.py --genes 1000 4000 --device cuda --samples 64
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from genexai.attribution import compute_attributions
from genexai.estimators.nn.mlp import MLP
from genexai.estimators.nn.transformer import GeneTokenTransformer

METHODS = {
    "mlp": ["saliency", "input_x_gradient", "integrated_gradients", "gradient_shap", "deep_lift"],
    "transformer": ["attention", "attention_rollout", "grad_attention", "saliency", "input_x_gradient",
                    "integrated_gradients", "gradient_shap", "attnlrp"],
}


def backbone(kind: str, n_genes: int, args: argparse.Namespace) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "mlp":
        return MLP(n_genes=n_genes, n_classes=2, hidden_dims=[256, 64], dropout=0.3)
    return GeneTokenTransformer(n_genes=n_genes, n_classes=2, d_model=args.d_model, n_layers=args.n_layers, n_heads=4)


def time_method(model: torch.nn.Module, inputs: torch.Tensor, method: dict, repeats: int, device: str) -> float:
    """Median seconds of one attribution call over ``repeats`` (after one warm-up call)."""
    times = []
    for attempt in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        compute_attributions(model, inputs, [method], target=1, seed=0)
        if device == "cuda":
            torch.cuda.synchronize()
        if attempt:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genes", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--models", nargs="+", default=["mlp", "transformer"], choices=sorted(METHODS))
    parser.add_argument("--samples", type=int, default=32, help="samples attributed per call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ig-steps", type=int, default=32, help="integrated_gradients n_steps (the default config's)")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--n-layers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/attribution_speed.csv"))
    args = parser.parse_args()

    rows = []
    console = Console()
    with console.status("timing attributions") as status:
        for kind in args.models:
            for n_genes in args.genes:
                model = backbone(kind, n_genes, args).to(args.device).eval()
                inputs = torch.randn(args.samples, n_genes, generator=torch.Generator().manual_seed(0)).to(args.device)
                for name in METHODS[kind]:
                    status.update(f"{kind} × {n_genes} genes: {name}")
                    method = {"name": name, **({"n_steps": args.ig_steps} if name == "integrated_gradients" else {})}
                    seconds = time_method(model, inputs, method, args.repeats, args.device)
                    rows.append({"model": kind, "genes": n_genes, "method": name, "samples": args.samples,
                                 "seconds": round(seconds, 4), "ms_per_sample": round(1000 * seconds / args.samples, 2),
                                 "device": args.device, "threads": torch.get_num_threads()})

    table = Table(title=f"attribution time ({args.device}, {args.samples} samples per call, median of {args.repeats})")
    for column in ("model", "genes", "method", "ms_per_sample"):
        table.add_column(column, justify="right" if column in ("genes", "ms_per_sample") else "left")
    for row in rows:
        table.add_row(row["model"], str(row["genes"]), row["method"], f"{row['ms_per_sample']:.2f}")
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    console.print(f"written {args.out}")


if __name__ == "__main__":
    main()
