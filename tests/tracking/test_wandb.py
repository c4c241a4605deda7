"""W&B tracking offline: mode decision, a training run's local W&B files, evaluation into the same run."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from pytorch_lightning.loggers import CSVLogger  # noqa: E402

from genexai import tracking  # noqa: E402
from genexai.tracking.wandb import RUN_INFO_FILE, WandbLogger  # noqa: E402
from genexai.pipeline.train import train  # noqa: E402
from genexai.utils.instantiate import instantiate_group  # noqa: E402
from tests.tracking.offline_run import read_offline_run  # noqa: E402

WANDB_ENV = ("WANDB_API_KEY", "WANDB_MODE", "WANDB_SWEEP_ID", "WANDB_BASE_URL", "WANDB_PROJECT", "WANDB_ENTITY")


def isolated_wandb_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a machine with no W&B account: no key, no mode, W&B's caches under ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if k not in WANDB_ENV}
    home = tmp_path / "wandb-home"
    env.update(
        NETRC=str(tmp_path / "no-netrc"),
        WANDB_DATA_DIR=str(home / "data"),
        WANDB_CACHE_DIR=str(home / "cache"),
        WANDB_CONFIG_DIR=str(home / "config"),
        WANDB_ARTIFACT_DIR=str(home / "artifacts"),
    )
    return env


@pytest.fixture
def no_wandb_account(tmp_path, monkeypatch):
    for key in WANDB_ENV:
        monkeypatch.delenv(key, raising=False)
    for key, value in isolated_wandb_env(tmp_path).items():
        if key not in WANDB_ENV and os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    yield
    tracking.finish()


def test_mode_is_offline_without_an_account(no_wandb_account, monkeypatch):
    assert tracking.resolve_mode() == "offline"
    assert tracking.resolve_mode(offline=False) == "offline"  # online asked for, but no key: never prompt
    monkeypatch.setenv("WANDB_MODE", "online")
    assert tracking.resolve_mode() == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking.resolve_mode(offline=False) == "disabled"


def test_mode_with_an_api_key_needs_a_reachable_server(no_wandb_account, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password abc123\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setattr("genexai.tracking.wandb._server_reachable", lambda timeout=2.0: False)
    assert tracking.resolve_mode() == "offline"  # no network: never wait for it
    monkeypatch.setattr("genexai.tracking.wandb._server_reachable", lambda timeout=2.0: True)
    assert tracking.resolve_mode() == "online"
    assert tracking.resolve_mode(offline=True) == "offline"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert tracking.resolve_mode() == "offline"
    assert tracking.resolve_mode(offline=False) == "online"
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc")  # a sweep agent's run reports to its sweep
    assert tracking.resolve_mode(offline=True) == "online"


@pytest.mark.parametrize("logger", ["wandb", "many_loggers", "[csv,wandb]"])
def test_logger_configs_compose_and_instantiate(train_cfg, no_wandb_account, logger):
    cfg = train_cfg([f"logger={logger}", "model=transformer", "seed=3"])
    assert cfg.logger.wandb.name == "transformer_simulated_seed3"
    assert list(cfg.logger.wandb.tags) == ["transformer", "simulated", "seed3"]
    assert cfg.logger.wandb.save_dir == cfg.paths.output_dir
    loggers = instantiate_group(cfg.logger)
    assert any(isinstance(lg, WandbLogger) and lg.mode == "offline" for lg in loggers)
    assert any(isinstance(lg, CSVLogger) for lg in loggers) == (logger != "wandb")
    GlobalHydra.instance().clear()


def test_log_results_without_a_wandb_logger_does_nothing(tmp_path):
    csv = CSVLogger(tmp_path)
    tracking.log_results([csv], metrics={"test/auroc": 0.5}, checkpoint=str(tmp_path / "none.ckpt"))
    tracking.log_results(None, metrics={"test/auroc": 0.5})
    assert tracking.log_evaluation(tmp_path, metrics={"eval/x": 1.0}) is False
    assert not list(tmp_path.rglob("wandb"))


def _figure(path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    fig.savefig(path)
    plt.close(fig)
    return path


def flushed_offline_run(path: Path) -> dict:
    """Read an offline run after shutting down W&B's service, which writes the run files in the background.

    ``run.finish()`` returns once the service has the records, not once they are on
    disk; a separate ``evaluate.py`` process flushes at exit, a test must ask for it.
    """
    import wandb

    wandb.teardown()
    return read_offline_run(path)


def test_offline_training_run_records_config_metrics_tables_and_artifacts(train_cfg, no_wandb_account, tmp_path):
    cfg = train_cfg([
        "logger=wandb", "trainer.max_epochs=2", "attribution=default", "attribution.methods=[{name: saliency}]",
        "data.adata.n_samples=60", "data.adata.n_genes=300", "data.n_genes=100",
    ])
    metrics = train(cfg)
    tracking.finish()
    run_dir = Path(cfg.paths.output_dir)
    info = json.loads((run_dir / RUN_INFO_FILE).read_text())
    assert info["mode"] == "offline" and info["name"] == "mlp_simulated_seed0"
    (offline_dir,) = (run_dir / "wandb").glob(f"offline-run-*-{info['id']}")

    run = flushed_offline_run(offline_dir)
    assert run["id"] == info["id"] and run["project"] == "genexai"
    assert run["tags"] == ["mlp", "simulated", "seed0"]
    # the resolved Hydra config is the run config; gene lists are not dumped into it
    assert run["config"]["data"]["n_genes"] == 100
    assert run["config"]["model"]["backbone"]["_target_"] == "genexai.estimators.nn.mlp.MLP"
    assert run["config"]["hydra_choices"]["model"] == "mlp"
    assert run["config"]["gene_names"] == "<100 items>"
    # train/val/test curves from Lightning, final metrics from log_results
    summary = run["summary"]
    assert summary["test/auroc"] == pytest.approx(metrics["test/auroc"])
    assert summary["val/auroc"] == pytest.approx(metrics["val/auroc"])
    assert "train/loss" in summary and summary["n_samples/train"] == metrics["n_samples"]["train"]
    assert summary["tables/importance/_type"] == "table-file"
    assert {"type": "model", "name": f"model-{info['id']}"} in [{k: a[k] for k in ("type", "name")} for a in run["artifacts"]]

    # evaluate.py's path: reopen the same run from another process state and add the comparison
    GlobalHydra.instance().clear()
    de = pd.DataFrame(
        {"baseMean": [10.0, 20.0], "log2FoldChange": [1.5, -0.2], "pvalue": [1e-4, 0.5], "padj": [1e-3, 0.6]},
        index=pd.Index(["g1", "g2"], name="gene"),
    )
    comparison = pd.DataFrame({"method": ["saliency"], "reference": ["deseq2"], "auprc": [0.42], "chance_auprc": [0.1]})
    # W&B names offline folders by the start second; evaluate.py runs later than that in real use.
    time.sleep(1.1)
    logged = tracking.log_evaluation(
        run_dir,
        metrics={"eval/auprc_vs_de/max": 0.42},
        de=de,
        comparison=comparison,
        figures={"volcano": _figure(tmp_path / "volcano.png")},
    )
    assert logged
    assert len(list((run_dir / "wandb").glob(f"offline-run-*-{info['id']}"))) == 2
    merged = flushed_offline_run(run_dir / "wandb")
    assert merged["summary"]["eval/auprc_vs_de/max"] == 0.42
    assert merged["summary"]["comparison/deseq2/saliency/auprc"] == 0.42
    assert "comparison/deseq2/saliency/chance_auprc" not in merged["summary"]
    assert merged["summary"]["figures/volcano/_type"] == "image-file"
    assert merged["summary"]["test/auroc"] == pytest.approx(metrics["test/auroc"])  # still the same run
    assert "de_table" in {a["type"] for a in merged["artifacts"]}


def test_a_classical_model_artifact_is_the_run_directory_format_without_pickle(train_cfg, no_wandb_account):
    cfg = train_cfg(["logger=wandb", "model=logreg_l1", "model.importance_methods=[coefficients]",
                     "data.adata.n_samples=40", "data.adata.n_genes=200", "data.n_genes=50"])
    train(cfg)
    tracking.finish()
    run_dir = Path(cfg.paths.output_dir)
    info = json.loads((run_dir / RUN_INFO_FILE).read_text())
    (offline_dir,) = (run_dir / "wandb").glob(f"offline-run-*-{info['id']}")
    (model,) = [a for a in flushed_offline_run(offline_dir)["artifacts"] if a["type"] == "model"]
    assert model["files"] == ["model.json", "model.skops"]  # opened as the run directory is: load_classical


def test_evaluation_outputs_reads_an_evaluation_directory(tmp_path):
    assert tracking.evaluation_outputs(tmp_path / "missing") == {}
    pd.DataFrame({"gene": ["g1"], "padj": [0.01]}).to_csv(tmp_path / "de.csv", index=False)
    pd.DataFrame({"method": ["saliency"], "reference": ["deseq2"], "auprc": [0.3]}).to_csv(tmp_path / "comparison.csv", index=False)
    _figure(tmp_path / "pr_curves.png")
    outputs = tracking.evaluation_outputs(tmp_path)
    assert outputs["de"].index.name == "gene" and list(outputs["de"].index) == ["g1"]
    assert outputs["comparison"]["auprc"].tolist() == [0.3]
    assert set(outputs["figures"]) == {"pr_curves"}
