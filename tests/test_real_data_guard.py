"""Tests that need the real data root skip locally when it is absent, and fail under CI."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

REAL_DATA_TEST = "tests/data/test_io.py::test_reads_real_dataset"


def _pytest_without_data(ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"GENEXAI_DATA_DIR": "/nonexistent/genexai-data"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", REAL_DATA_TEST],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_missing_data_fails_under_ci() -> None:
    result = _pytest_without_data("true")
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 failed" in result.stdout and "CI=true requires the real data" in result.stdout


def test_missing_data_skips_locally_with_the_reason() -> None:
    result = _pytest_without_data(None)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 skipped" in result.stdout and "dataset pasilla not found under /nonexistent/genexai-data" in result.stdout
