"""Lightning DDP on CPU (2 processes, gloo): one run dir, rank-0 outputs, the same result as one process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from genexai.pipeline.train import train

ROOT = Path(__file__).resolve().parents[1]
DATA = ["data.adata.n_samples=80", "data.adata.n_genes=300", "data.n_genes=100", "trainer.max_epochs=3",
        "attribution.methods=[{name: saliency}]"]


@pytest.mark.slow
def test_two_process_ddp_matches_single_process_training(tmp_path, train_cfg):
    single = train(train_cfg(DATA))
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "trainer=ddp", "trainer.devices=2", "logger=none",
         "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false", f"paths.log_dir={tmp_path}", *DATA],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "train" / "runs").iterdir()  # the relaunched rank wrote into the same run dir
    assert (run_dir / "train_ddp_process_1.log").is_file()  # ... and there were two processes
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / "importance.csv").is_file() and (run_dir / "provenance.json").is_file()
    # Same data, seed and epochs; DDP halves the per-process batches, so equal in expectation, not bit for bit.
    assert metrics["test/auroc"] == pytest.approx(single["test/auroc"], abs=0.1)
    assert metrics["test/auroc"] >= 0.9
