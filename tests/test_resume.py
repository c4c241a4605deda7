"""Kill `train.py` mid-training (SIGKILL, SIGINT), resume with ckpt_path=last: same final metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SMALL = [
    "data.adata.n_samples=80", "data.adata.n_genes=300", "data.n_genes=100", "trainer.max_epochs=5",
    "~callbacks.early_stopping", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false",
    "logger=none", "attribution=none",
]


def _train(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), f"hydra.run.dir={run_dir}", *SMALL, *overrides],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def _final_metrics(run_dir: Path) -> dict[str, float]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, float]:
    run_dir = tmp_path_factory.mktemp("full")
    assert _train(run_dir).returncode == 0
    return _final_metrics(run_dir)


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGINT"])
def test_killed_run_resumes_to_the_same_metrics(tmp_path, uninterrupted, signal_name):
    killed = _train(
        tmp_path, f"+callbacks.kill={{_target_: tests.helpers.KillAtEpochEnd, epoch: 2, signal_name: {signal_name}}}"
    )
    assert killed.returncode != 0
    assert not (tmp_path / "metrics.json").exists(), "a killed run must not leave final metrics behind"
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()

    resumed = _train(tmp_path, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Restored all states" in resumed.stdout + resumed.stderr
    got = _final_metrics(tmp_path)
    assert got.keys() == uninterrupted.keys()
    for key, value in uninterrupted.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
