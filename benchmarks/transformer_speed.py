"""Speed and memory of GeneTokenTransformer against torch.nn.TransformerEncoder.

1. Training throughput (samples/s of forward + backward + AdamW step) of our encoder
   blocks vs ``nn.TransformerEncoder(norm_first=True, batch_first=True)`` of identical
   size behind the same embedding front-end and head, timed interleaved in one process
   (so load drift on a shared machine hits both alike); median over repeats.
2. Peak memory of CLS-attention extraction (``model.cls_attention``), each size in a
   fresh subprocess, against the size of one full ``B x heads x N x N`` attention tensor
   (also measured, while it fits under ``--dense-limit-mib``).

CPU peaks are resident-set high-water marks (``VmHWM`` after resetting it through
``/proc/self/clear_refs``) minus the resident set before the call; CUDA peaks come
from ``torch.cuda.max_memory_allocated``.

    python benchmarks/transformer_speed.py                      # CPU defaults, a few minutes
    python benchmarks/transformer_speed.py --device cuda --batch-size 32
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn

from genexai.estimators.nn.transformer import GeneTokenTransformer

MIB = 2**20


class ReferenceTransformer(nn.Module):
    """GeneTokenTransformer's front-end and head around ``torch.nn.TransformerEncoder`` blocks."""

    def __init__(
        self,
        n_genes: int,
        n_classes: int,
        d_model: int,
        n_layers: int,
        n_heads: int,
        dim_feedforward: int,
        dropout: float,
        attention_dropout: float,
    ) -> None:
        super().__init__()
        self.front = GeneTokenTransformer(
            n_genes, n_classes, d_model=d_model, n_layers=0, n_heads=n_heads, dropout=dropout
        )
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, dim_feedforward, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        layer.self_attn.dropout = attention_dropout  # same split of dropout rates as ours
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)

    def forward(self, x: Tensor) -> Tensor:
        h = self.encoder(self.front.embed(x))
        return self.front.head(self.front.norm(h[:, 0]))


def _sizes(args: argparse.Namespace) -> dict:
    """Hyperparameters shared by both models, so they have identical parameter counts."""
    return {
        "d_model": args.d_model,
        "n_layers": args.n_layers,
        "n_heads": args.n_heads,
        "dim_feedforward": args.dim_feedforward or 4 * args.d_model,
        "dropout": args.dropout,
        "attention_dropout": args.attention_dropout,
    }


def build_ours(args: argparse.Namespace, n_tokens: int) -> GeneTokenTransformer:
    torch.manual_seed(0)
    return GeneTokenTransformer(n_tokens, 2, **_sizes(args)).to(args.device)


def build_reference(args: argparse.Namespace, n_tokens: int) -> ReferenceTransformer:
    torch.manual_seed(0)
    return ReferenceTransformer(n_tokens, 2, **_sizes(args)).to(args.device)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(args: argparse.Namespace, n_tokens: int) -> dict[str, float]:
    """Median samples/s of a full training step for both models, timed interleaved."""
    models = (build_ours(args, n_tokens), build_reference(args, n_tokens))
    x = torch.randn(args.batch_size, n_tokens, device=args.device)
    y = torch.randint(0, 2, (args.batch_size,), device=args.device)
    steps = []
    for model in models:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(model: nn.Module = model, opt: torch.optim.Optimizer = opt) -> None:
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

        steps.append(step)
    for step in steps:
        for _ in range(args.warmup):
            step()
    rates: list[list[float]] = [[], []]
    for _ in range(args.repeats):
        for rate, step in zip(rates, steps):
            sync(args.device)
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            sync(args.device)
            rate.append(args.batch_size * args.steps / (time.perf_counter() - start))
    ours, reference = (statistics.median(r) for r in rates)
    n_params = [sum(p.numel() for p in m.parameters()) for m in models]
    if n_params[0] != n_params[1]:
        raise RuntimeError(f"models differ in size: {n_params}")
    return {
        "ours_samples_per_s": ours,
        "reference_samples_per_s": reference,
        "ratio": ours / reference,
        "n_params": n_params[0],
    }


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_probe(args: argparse.Namespace, n_tokens: int, dense: bool) -> float:
    """Peak extra memory (MiB) of CLS attention (or, with ``dense``, the full last-layer matrix)."""
    model = build_ours(args, n_tokens).eval()
    x = torch.randn(args.memory_batch_size, n_tokens, device=args.device)

    def run() -> Tensor:
        if not dense:
            return model.cls_attention(x)
        with torch.no_grad(), model.record_attention() as records:
            model(x)
        return records[-1].probs()

    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / MIB
    before = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current RSS
    run()
    return (_rss_kib("VmHWM") - before) / 1024


def memory(args: argparse.Namespace, n_tokens: int) -> dict[str, float]:
    """CLS-attention peak, dense-attention peak (if small enough), and the N x N tensor size."""
    full = args.memory_batch_size * args.n_heads * (n_tokens + 1) ** 2 * 4 / MIB
    result = {"cls_peak_mib": _probe(n_tokens, dense=False), "full_attention_mib": full, "dense_peak_mib": float("nan")}
    if full <= args.dense_limit_mib:
        result["dense_peak_mib"] = _probe(n_tokens, dense=True)
    return result


def _probe(n_tokens: int, dense: bool) -> float:
    """Run :func:`memory_probe` in a fresh interpreter so earlier allocations cannot hide its peak."""
    cmd = [sys.executable, __file__, *sys.argv[1:], "--probe", str(n_tokens)] + (["--probe-dense"] if dense else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_mib"]


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1000, 4000], help="gene tokens for throughput")
    parser.add_argument("--memory-tokens", type=int, nargs="+", default=[4000, 16000], help="gene tokens for memory")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--memory-batch-size", type=int, default=1)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--n-layers", type=int, default=2)
    parser.add_argument("--n-heads", type=int, default=4)
    parser.add_argument("--dim-feedforward", type=int, default=None, help="default 4 * d_model")
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--attention-dropout", type=float, default=0.0, help="> 0 forces the O(N^2) math kernel on CPU")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per model")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is reported")
    parser.add_argument("--steps", type=int, default=2, help="training steps per timed repeat")
    parser.add_argument(
        "--dense-limit-mib", type=float, default=1024, help="measure dense attention only below this size"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/transformer_speed.csv"))
    parser.add_argument("--probe", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--probe-dense", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.probe is not None:
        print(json.dumps({"peak_mib": memory_probe(args, args.probe, args.probe_dense)}))
        return

    rows = []
    speed = Table(title=f"Training throughput ({args.device}, batch {args.batch_size}, d_model {args.d_model}, "
                  f"{args.n_layers} layers, {args.n_heads} heads, {torch.get_num_threads()} threads)")
    for col in ("tokens", "params", "ours samples/s", "reference samples/s", "ratio"):
        speed.add_column(col, justify="right")
    for n in args.tokens:
        r = throughput(args, n)
        rows.append({"benchmark": "train_throughput", "n_tokens": n, "batch_size": args.batch_size, **r})
        speed.add_row(str(n), f"{r['n_params']:,}", f"{r['ours_samples_per_s']:.2f}",
                      f"{r['reference_samples_per_s']:.2f}", f"{r['ratio']:.2f}")

    mem = Table(title=f"Peak memory of CLS-attention extraction ({args.device}, batch {args.memory_batch_size})")
    for col in ("tokens", "CLS peak MiB", "dense peak MiB", "N x N tensor MiB", "N x N / CLS"):
        mem.add_column(col, justify="right")
    for n in args.memory_tokens:
        r = memory(args, n)
        rows.append({"benchmark": "cls_attention_memory", "n_tokens": n, "batch_size": args.memory_batch_size, **r})
        dense = "not run" if math.isnan(r["dense_peak_mib"]) else f"{r['dense_peak_mib']:.1f}"
        mem.add_row(str(n), f"{r['cls_peak_mib']:.1f}", dense, f"{r['full_attention_mib']:.1f}",
                    f"{r['full_attention_mib'] / max(r['cls_peak_mib'], 1e-3):.0f}x")

    console = Console()
    console.print(speed)
    console.print(mem)
    write_csv(rows, args.out)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
