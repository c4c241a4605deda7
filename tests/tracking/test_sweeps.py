"""Sweeps: Optuna and grid multiruns of `train.py` (summary table, failed jobs), the W&B sweep definition."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict, read_write

from genexai.errors import ConfigError
from genexai.tracking import collect_jobs, sweep_safe
from genexai.tracking.sweep import ERROR_FILE
from tests.conftest import CONFIG_DIR, ROOT, compose_config, real_data
from tests.tracking.offline_run import read_offline_run
from tests.tracking.test_wandb import isolated_wandb_env

SMALL = [
    "trainer.max_epochs=1", "attribution=none", "trainer.enable_progress_bar=false", "~callbacks.rich_progress_bar",
    "data.adata.n_samples=60", "data.adata.n_genes=300", "data.n_genes=100",
]


def _multirun(tmp_path: Path, *overrides: str) -> tuple[subprocess.CompletedProcess, Path]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "-m", f"paths.log_dir={tmp_path / 'logs'}", *SMALL, *overrides],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=isolated_wandb_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    return result, sweep_dir


def test_optuna_sweep_goes_on_after_a_failed_trial(tmp_path):
    # n_heads=3 divides no d_model: that trial fails with a ConfigError; the TPE sampler
    # (seeded from `seed`) draws 3 then 4, so the second trial completes.
    result, sweep_dir = _multirun(
        tmp_path, "hparams_search=transformer_optuna", "hydra.sweeper.n_trials=2", "model.backbone.n_heads=choice(3,4)"
    )
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert summary["job"].tolist() == [0, 1]
    assert set(summary["status"]) == {"failed", "completed"}, summary
    for _, row in summary.iterrows():
        assert (row["status"] == "failed") == (row["model.backbone.n_heads"] == 3)
    failed = summary[summary["status"] == "failed"].iloc[0]
    assert "not divisible by n_heads=3" in failed["error"]
    assert json.loads((sweep_dir / str(failed["job"]) / ERROR_FILE).read_text())["user_error"]
    done = summary[summary["status"] == "completed"].iloc[0]
    for column in ("model.lr", "model.backbone.d_model", "model.backbone.dropout", "val/auroc", "test/auroc"):
        assert pd.notna(done[column]), column
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["best_params"]["model.backbone.n_heads"] == 4
    assert best["best_value"] == pytest.approx(done["val/auroc"])
    assert "Best parameters" in result.stderr + result.stdout


def test_grid_multirun_gives_one_wandb_run_per_job_and_survives_a_crash(tmp_path):
    # lr=-1 makes the optimizer raise a plain ValueError (a bug-like crash, not a GenexaiError).
    _, sweep_dir = _multirun(tmp_path, "logger=many_loggers", "model.lr=1e-3,-1")
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert summary[["job", "status"]].values.tolist() == [[0, "completed"], [1, "failed"]]
    assert summary["model.lr"].tolist() == [1e-3, -1]
    assert "Invalid learning rate" in summary.loc[1, "error"]
    metrics = json.loads((sweep_dir / "0" / "metrics.json").read_text())
    assert summary.loc[0, "test/auroc"] == pytest.approx(metrics["test/auroc"])
    assert (sweep_dir / "0" / "csv" / "metrics.csv").is_file()

    infos = [json.loads((sweep_dir / str(job) / "wandb_run.json").read_text()) for job in (0, 1)]
    assert infos[0]["id"] != infos[1]["id"]
    assert [info["name"] for info in infos] == ["mlp_simulated_seed0_job0", "mlp_simulated_seed0_job1"]
    runs = [read_offline_run(sweep_dir / str(job) / "wandb") for job in (0, 1)]
    assert runs[0]["summary"]["test/auroc"] == pytest.approx(metrics["test/auroc"])
    assert runs[0]["config"]["model"]["lr"] == 1e-3 and runs[1]["config"]["model"]["lr"] == -1
    assert "test/auroc" not in runs[1]["summary"]  # job 1 logged into its own run, marked failed
    assert [run["exit_code"] for run in runs] == [0, 1]


def test_collect_jobs_flattens_metrics_and_marks_missing_jobs(tmp_path):
    for job, overrides in enumerate([["model=mlp", "+x=1"], ["model=transformer", "+x=2"], ["model=mlp", "+x=3"]]):
        (tmp_path / str(job) / ".hydra").mkdir(parents=True)
        (tmp_path / str(job) / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (tmp_path / "0" / "metrics.json").write_text(json.dumps({"test/auroc": 0.9, "time_s": {"train": 2.0}, "class_names": ["a", "b"]}))
    (tmp_path / "1" / ERROR_FILE).write_text(json.dumps({"type": "ValueError", "message": "boom"}))
    table = collect_jobs(tmp_path)
    assert table["status"].tolist() == ["completed", "failed", "missing"]
    assert table["model"].tolist() == ["mlp", "transformer", "mlp"]
    assert table.loc[0, "time_s/train"] == 2.0 and table.loc[0, "class_names"] == '["a", "b"]'
    assert table.loc[1, "error"] == "ValueError: boom"


def _hydra_job_config(tmp_path: Path, mode: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra.mode={mode}"], return_hydra_config=True)
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.runtime.output_dir = str(tmp_path)
        cfg.hydra.job.num = 7
    HydraConfig.instance().set_config(cfg)
    return cfg


def test_sweep_safe_only_catches_in_a_multirun(tmp_path):
    @sweep_safe
    def task(value):
        if value is None:
            raise ConfigError("bad value")
        return value

    _hydra_job_config(tmp_path, "RUN")
    with pytest.raises(ConfigError):
        task(None)
    assert task(0.5) == 0.5
    _hydra_job_config(tmp_path, "MULTIRUN")
    assert task(None) is None
    error = json.loads((tmp_path / ERROR_FILE).read_text())
    assert error["type"] == "ConfigError" and error["message"] == "bad value" and error["user_error"]
    assert task(float("nan")) is None  # Optuna 2.10 / the 1.3.0 sweeper crash on a NaN objective
    assert task(0.5) == 0.5
    GlobalHydra.instance().clear()


def test_optuna_configs_are_seeded_and_tolerate_failures(tmp_path):
    for name, model in (("transformer_optuna", "GeneTokenTransformer"), ("mlp_optuna", "MLP")):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("train", overrides=[f"hparams_search={name}", "seed=5"], return_hydra_config=True)
        sweeper = cfg.hydra.sweeper
        assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 5
        assert sweeper.max_failure_rate == 1.0 and sweeper.direction == "maximize"
        assert cfg.optimized_metric == "val/auroc" and cfg.model.backbone._target_.endswith(model)
        assert "data.n_genes" in sweeper.params and "model.lr" in sweeper.params
    GlobalHydra.instance().clear()


def _wandb_agent_args(sweep: dict, pick: str) -> list[str]:
    """The command line a W&B agent builds for one trial (parameters at their min or max)."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    values = {}
    for key, spec in sweep["parameters"].items():
        if "values" in spec:
            values[key] = spec["values"][0 if pick == "min" else -1]
        elif "value" in spec:
            values[key] = spec["value"]
        else:
            values[key] = spec[pick]
    args = create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})["args_no_hyphens"]
    literal = [c for c in sweep["command"] if not str(c).startswith("${")]
    return [*literal, *args]


@pytest.mark.parametrize("pick", ["min", "max"])
def test_wandb_sweep_command_is_accepted_by_train_py(tmp_path, pick):
    sweep = yaml.safe_load((CONFIG_DIR / "wandb_sweep" / "transformer.yaml").read_text())
    assert (ROOT / sweep["program"]).is_file()
    assert sweep["command"][:3] == ["${env}", "${interpreter}", "${program}"] and "${args_no_hyphens}" in sweep["command"]
    assert sweep["metric"]["name"] == "val/auroc"
    args = _wandb_agent_args(sweep, pick)
    cfg = compose_config("train", args, tmp_path)
    assert cfg.model.backbone._target_.endswith("GeneTokenTransformer") and cfg.data.name == "tcga_brca_paired"
    for key, spec in sweep["parameters"].items():
        expected = spec["values"][0 if pick == "min" else -1] if "values" in spec else spec[pick]
        node, _, leaf = key.rpartition(".")
        actual = cfg
        for part in node.split("."):
            actual = actual[part]
        assert actual[leaf] == pytest.approx(expected), key
    GlobalHydra.instance().clear()


def test_wandb_sweep_trial_runs_with_fast_dev_run(tmp_path, monkeypatch):
    real_data("tcga_brca_paired")
    from genexai.tracking import finish
    from genexai.pipeline.train import train

    for key, value in isolated_wandb_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    for key in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_SWEEP_ID"):
        monkeypatch.delenv(key, raising=False)
    sweep = yaml.safe_load((CONFIG_DIR / "wandb_sweep" / "transformer.yaml").read_text())
    args = _wandb_agent_args(sweep, "min")
    cfg = compose_config("train", [*args, "trainer.fast_dev_run=true", "trainer.enable_progress_bar=false",
                                   "~callbacks.rich_progress_bar"], tmp_path)
    metrics = train(cfg)
    finish()
    assert "val/auroc" in metrics and metrics["n_genes"] == 250
    assert (tmp_path / "wandb_run.json").is_file()
    GlobalHydra.instance().clear()
