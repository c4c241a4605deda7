"""Train a classifier on bulk RNA-seq counts and attribute its decisions to genes.

    python train.py                              # MLP on the simulated default dataset
    python train.py model=transformer data=tcga_brca_paired
    python train.py -m model=mlp,transformer seed=1,2,3

Everything is configured in ``configs/`` (Hydra); the work lives in ``genexai.pipeline.train``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from genexai.cli import check_overrides, print_run_summary, report_errors
from genexai.pipeline.train import train
from genexai.tracking import quiet_third_party_output, sweep_safe


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
@report_errors  # outermost: a single run's bad input → one line, exit 2
@sweep_safe  # in a multirun, a failed job is recorded and the sweep goes on
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    if metrics:  # a DDP worker rank reports nothing
        print_run_summary(cfg.paths.output_dir, metrics, evaluated=bool(cfg.get("evaluate")))
    return metrics.get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    quiet_third_party_output()
    check_overrides(Path(__file__).parent / "configs", "train", sys.argv[1:])
    main()
