"""Cluster launchers: the SLURM config composes; the same submitit path runs jobs locally."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from genexai.config import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]


def test_slurm_launcher_config_composes_to_submitit():
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.gpus_per_node == 1 and launcher.timeout_min == 240


@pytest.mark.slow
def test_submitit_local_sweep_runs_every_job(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "-m", "hydra/launcher=submitit_local", "seed=0,1",
         "trainer.fast_dev_run=true", "logger=none", "attribution=none", "~callbacks.rich_progress_bar",
         f"paths.log_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    for seed in (0, 1):  # each job ran its own override on the full default gene set
        job = sweep / str(seed)
        assert OmegaConf.load(job / "config.yaml").seed == seed
        assert json.loads((job / "metrics.json").read_text())["n_genes"] == 1000  # configs/data/_common.yaml
