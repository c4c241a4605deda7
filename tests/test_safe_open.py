"""Opening someone else's run directory runs none of their code (issue 22).

Each attack is a payload that creates a marker file when unpickled; the real entry point
runs in a subprocess, as a user would run it, and must exit 2 with one ``genexai error:``
line, the marker never created.
"""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hydra.core.global_hydra import GlobalHydra

from genexai.pipeline.train import train
from tests.conftest import ROOT, compose_config

SMALL = ["logger=none", "data.adata.n_samples=40", "data.adata.n_genes=200", "data.n_genes=50"]


class Payload:
    """Unpickled, it creates ``marker``: the stand-in for whatever code a stranger's pickle runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _payload(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps(Payload(marker)))
    pickle.loads(pickle.dumps(Payload(marker.with_name("live"))))  # the payload is live: unpickling runs it
    assert marker.with_name("live").is_file()
    return path


@pytest.fixture(scope="module")
def classical_run(tmp_path_factory) -> Path:
    """A finished logistic-regression run (model.skops + model.json, config.yaml)."""
    out = tmp_path_factory.mktemp("classical_run")
    train(compose_config("train", ["model=logreg_l1", *SMALL, "model.importance_methods=[coefficients]"], out))
    GlobalHydra.instance().clear()
    return out


def _cli(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / f"{script}.py"), f"paths.log_dir={tmp_path / 'logs'}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def _refused(result: subprocess.CompletedProcess, *, only_line: bool = True) -> str:
    """The one ``genexai error:`` line of a command that exited 2 (the whole of stderr when ``only_line``)."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("genexai error:")]
    assert len(errors) == 1, result.stderr
    if only_line:
        assert result.stderr.strip() == errors[0], result.stderr
    return errors[0]


@pytest.mark.parametrize("node", ["data.adata", "data"])
def test_a_run_config_naming_pandas_read_pickle_does_not_run_the_payload(classical_run, tmp_path, node):
    run = tmp_path / "run"
    shutil.copytree(classical_run, run)
    marker = tmp_path / "marker"
    payload = _payload(run / "payload.pkl", marker)
    config = yaml.safe_load((run / "config.yaml").read_text())
    parent = config["data"] if node == "data.adata" else config
    parent[node.rsplit(".", 1)[-1]] = {"_target_": "pandas.read_pickle", "filepath_or_buffer": str(payload)}
    (run / "config.yaml").write_text(yaml.safe_dump(config))

    line = _refused(_cli("evaluate", tmp_path, f"run_dir={run}"))
    assert not marker.exists()
    assert f"{node}._target_='pandas.read_pickle'" in line and str(run / "config.yaml") in line


@pytest.mark.parametrize("key", ["data.design", "de.design"])
def test_a_design_formula_with_python_in_it_does_not_run(classical_run, tmp_path, key):
    """formulaic evaluates a Python term of a design: the run config's design is data too."""
    run = tmp_path / "run"
    shutil.copytree(classical_run, run)
    marker = tmp_path / "marker"
    code = f"condition.__class__.__init__.__globals__['__builtins__']['exec'](\"open({str(marker)!r}, 'w').close()\")"
    config = yaml.safe_load((run / "config.yaml").read_text())
    group, name = key.split(".")
    config[group][name] = f"~{{{code}}} + condition"
    if group == "de":  # the run's own DE settings are used where its genes were selected by a DE test
        config["data"]["gene_selection"] = "deseq2"
    (run / "config.yaml").write_text(yaml.safe_dump(config))

    line = _refused(_cli("evaluate", tmp_path, f"run_dir={run}", "de.genes=model"))
    assert not marker.exists()
    assert "Python expression" in line


@pytest.mark.parametrize("how", ["run_dir", "ckpt_path"])
def test_a_crafted_model_joblib_does_not_run_the_payload(classical_run, tmp_path, how):
    run = tmp_path / "run"
    shutil.copytree(classical_run, run)
    marker = tmp_path / "marker"
    for path in (run / "checkpoints").iterdir():  # the run as an older genexai wrote it, with a stranger's pickle
        path.unlink()
    crafted = _payload(run / "checkpoints" / "model.joblib", marker)

    target = f"run_dir={run}" if how == "run_dir" else f"ckpt_path={crafted}"
    line = _refused(_cli("evaluate", tmp_path, target))
    assert not marker.exists()
    assert str(crafted) in line and "pickle" in line and "trust_pickle=true" in line


def test_resuming_from_a_foreign_checkpoint_does_not_run_the_payload(tmp_path):
    marker = tmp_path / "marker"
    foreign = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "epoch": 3, "loops": Payload(marker)}, foreign)  # a checkpoint with code inside
    result = _cli("train", tmp_path, f"hydra.run.dir={tmp_path / 'run'}", f"ckpt_path={foreign}", *SMALL,
                  "attribution=none", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false")
    line = _refused(result, only_line=False)  # Lightning's "Seed set to 0" comes before it
    assert not marker.exists()
    assert str(foreign) in line and "weights_only=True" in line
