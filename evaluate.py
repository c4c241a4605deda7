"""Compare a trained model's gene attributions with DESeq2 (and with the truth, where known).

    python evaluate.py run_dir=logs/train/runs/<run>
    python evaluate.py ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt attribution=default

Writes de.csv, comparison.csv/.json, figures and report.html into its own run directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from genexai.cli import check_overrides, print_run_summary, report_errors
from genexai.pipeline.reload import evaluate
from genexai.tracking import evaluation_outputs, log_evaluation, quiet_third_party_output


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
@report_errors
def main(cfg: DictConfig) -> None:
    metrics = evaluate(cfg)
    evaluation = {k: v for k, v in metrics.items() if k.startswith("eval/")}
    log_evaluation(metrics["run_dir"], metrics=evaluation, **evaluation_outputs(cfg.paths.output_dir))
    print(f"report: {metrics['eval/report']}")
    print_run_summary(cfg.paths.output_dir, metrics, evaluated=True)


if __name__ == "__main__":
    quiet_third_party_output()
    check_overrides(Path(__file__).parent / "configs", "evaluate", sys.argv[1:])
    main()
