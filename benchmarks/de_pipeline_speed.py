"""What R's steps cost: the torch DESeq2 engine with ``de.pipeline=r`` against ``pydeseq2``, back to back.

For each real set (all samples, ``--design``, default ``~condition``): one untimed warm-up
on 300 genes, then ``--repeats`` rounds, each timing ``pipeline=pydeseq2`` and
``pipeline=r`` back to back through :func:`genexai.de.fit_deseq2` (torch engine on the CPU,
``--threads`` torch threads, BLAS held to one thread), the order alternating between
rounds so that load drift on a shared machine hits both alike. Reported: the median wall
time of each pipeline and the median of the per-round ratios ``r / pydeseq2`` (the
acceptance of issue 21: at most 1.2). Writes ``pipeline_speed.csv`` under ``--out`` and
``docs/de_pipeline_speed.md`` (committed; the README quotes it).

    python benchmarks/de_pipeline_speed.py                      # pasilla, TCGA, montpick, 5 rounds, ~5 min
    python benchmarks/de_pipeline_speed.py --datasets pasilla --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from de_agreement import DATA_ROOT, ROOT, load  # noqa: E402  (a sibling script, not a package)

from genexai.de import fit_deseq2  # noqa: E402
from genexai.de.torch import TorchInference  # noqa: E402
from genexai.utils.files import atomic_write, write_text  # noqa: E402

PIPELINES = ("pydeseq2", "r")


def timed(data: dict, pipeline: str, threads: int, genes: slice = slice(None)) -> float:
    started = time.perf_counter()
    fit_deseq2(data["counts"].iloc[:, genes], data["metadata"], design=data["design"], ref_level=data["ref_level"],
               inference=TorchInference(n_cpus=threads), pipeline=pipeline)  # fmt: skip
    return time.perf_counter() - started


def benchmark(name: str, data: dict, repeats: int, threads: int) -> dict:
    for pipeline in PIPELINES:
        timed(data, pipeline, threads, slice(0, 300))
    seconds: dict[str, list[float]] = {p: [] for p in PIPELINES}
    for round_ in range(repeats):
        for pipeline in PIPELINES if round_ % 2 == 0 else PIPELINES[::-1]:
            seconds[pipeline].append(timed(data, pipeline, threads))
    ratios = [r / p for p, r in zip(seconds["pydeseq2"], seconds["r"])]
    return {"dataset": name, "n_samples": len(data["counts"]), "n_genes": data["counts"].shape[1],
            "design": data["design"], "repeats": repeats, "threads": threads,
            "seconds_pydeseq2": statistics.median(seconds["pydeseq2"]), "seconds_r": statistics.median(seconds["r"]),
            "median_ratio": statistics.median(ratios), "max_ratio": max(ratios)}  # fmt: skip


def markdown(rows: pd.DataFrame) -> str:
    lines = [
        "# Speed of R's steps (`de.pipeline=r`) on the torch engine\n",
        "Written by `python benchmarks/de_pipeline_speed.py` (do not edit by hand): all samples, torch engine on "
        "the CPU, the two pipelines back to back in alternating order; median wall seconds and the median of the "
        "per-round ratios.\n",
        "| dataset | n | genes | design | rounds | threads | `pydeseq2` s | `r` s | ratio r / pydeseq2 (median, max) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows.to_dict("records"):
        lines.append(f"| {row['dataset']} | {row['n_samples']} | {row['n_genes']:,} | `{row['design']}` | {row['repeats']} | "
                     f"{row['threads']} | {row['seconds_pydeseq2']:.2f} | {row['seconds_r']:.2f} | "
                     f"{row['median_ratio']:.2f} ({row['max_ratio']:.2f}) |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=["pasilla", "tcga_brca_paired", "montpick"])
    parser.add_argument("--design", default="~condition")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "de_pipeline_speed")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "de_pipeline_speed.md")
    args = parser.parse_args()
    rows = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyDESeq2's per-step notices; the numbers are the point here
        for name in args.datasets:
            rows.append(benchmark(name, load(name, args.data_root, args.design), args.repeats, args.threads))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / "pipeline_speed.csv", lambda tmp: table.to_csv(tmp, index=False))
    text = markdown(table)
    write_text(args.docs, text)
    print(text)


if __name__ == "__main__":
    main()
