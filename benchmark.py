"""Benchmark every model's attributions against DESeq2 (and the truth) across datasets and seeds.

    python benchmark.py                                   # the default grid (configs/benchmark.yaml)
    python benchmark.py datasets=[tcga_brca_paired] seeds=[0,1] name=tcga

Writes benchmark.csv, summary.md and summary.html into logs/benchmark/<name>/; rerunning
the same command resumes, skipping finished cells.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from genexai.benchmarking import run_benchmark
from genexai.tracking import quiet_third_party_output
from genexai.cli import check_overrides, report_errors


@hydra.main(version_base="1.3", config_path="configs", config_name="benchmark")
@report_errors
def main(cfg: DictConfig) -> None:
    run_benchmark(cfg)
    print(f"benchmark: {Path(cfg.out_dir) / 'summary.md'}")


if __name__ == "__main__":
    quiet_third_party_output()
    check_overrides(Path(__file__).parent / "configs", "benchmark", sys.argv[1:])
    main()
