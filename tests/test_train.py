"""`train.py` end to end: composed configs, fast_dev_run, a real dataset, clear CLI errors."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra.core.global_hydra import GlobalHydra

from genexai.pipeline.build import build_datamodule
from genexai.pipeline.train import train
from tests.conftest import ROOT, real_data

DATASETS = ["simulated", "simulated_from_real", "spikein", "spikein_geuvadis", "yeast_subsample", "csv", "h5ad", "pasilla", "airway", "yeast_snf2", "montpick", "tcga_brca_paired", "geuvadis_sex", "gtex_brain_acc_fc"]


@pytest.mark.parametrize("data", DATASETS)
def test_every_data_config_composes(train_cfg, data):
    cfg = train_cfg([f"data={data}"])
    assert cfg.data.name == data and cfg.data._target_.endswith("RNASeqDataModule")


def test_fast_dev_run_on_simulated_data(train_cfg):
    cfg = train_cfg(["trainer.fast_dev_run=true", "attribution=none"])
    metrics = train(cfg)
    assert "test/auroc" in metrics
    assert (Path(cfg.paths.output_dir) / "metrics.json").is_file()


@pytest.mark.parametrize("model", ["mlp", "logreg_l1"])
def test_run_records_its_split_with_the_de_baseline_training_samples(train_cfg, model):
    """``splits.csv``: every sample once, in data order; its training rows are the samples the DE baseline saw."""
    cfg = train_cfg([
        f"model={model}", "data.adata.n_samples=40", "data.adata.n_genes=60", "data.n_genes=20", "trainer.max_epochs=1",
        "attribution.methods=[{name: saliency}]", "evaluate=true", "de=wilcoxon",
    ])
    metrics = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    splits = pd.read_csv(run_dir / "splits.csv")
    assert list(splits.columns) == ["sample", "condition", "split"]
    data = build_datamodule(cfg).adata
    assert list(splits["sample"]) == list(data.obs_names)
    assert list(splits["condition"]) == list(data.obs["condition"].astype(str))
    assert splits["split"].value_counts().to_dict() == metrics["n_samples"]
    written = json.loads((run_dir / "metrics.json").read_text())
    assert sorted(splits.loc[splits["split"] == "train", "sample"]) == written["eval/de_samples"]


def test_metrics_json_has_test_cis_and_a_small_test_set_is_warned_about(train_cfg, caplog):
    # 60 samples: the default 20% test split holds 12, as TCGA's default split does.
    cfg = train_cfg(["attribution=none", "data.adata.n_samples=60", "data.adata.n_genes=300", "data.n_genes=100"])
    with caplog.at_level(logging.WARNING, logger="genexai"):
        metrics = train(cfg)
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["test/n_samples"] == 12 == written["n_samples"]["test"]
    for name in ("acc", "auroc"):
        low, high = written[f"test/{name}_ci_low"], written[f"test/{name}_ci_high"]
        assert 0 <= low <= written[f"test/{name}"] <= high <= 1 and low < high, (name, low, high)
        assert written[f"test/{name}_ci_low"] == metrics[f"test/{name}_ci_low"]
    assert "test set has 12 samples (< 20): AUROC/accuracy estimates are unreliable" in caplog.text


def test_short_training_on_tcga_reaches_auroc_090(train_cfg):
    real_data("tcga_brca_paired")
    cfg = train_cfg(["data=tcga_brca_paired", "trainer.max_epochs=15", "attribution=none", "data.n_genes=500"])
    metrics = train(cfg)
    assert metrics["test/auroc"] >= 0.9, metrics
    run_dir = Path(cfg.paths.output_dir)
    written = json.loads((run_dir / "metrics.json").read_text())
    assert written["test/auroc"] == metrics["test/auroc"]
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "config.yaml").is_file()
    GlobalHydra.instance().clear()


def _run_cli(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), f"paths.log_dir={tmp_path}", *overrides],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def test_corrupted_input_gives_one_line_error_and_exit_2(tmp_path):
    counts = tmp_path / "counts.csv"
    counts.write_text("sample,g1,g2\ns1,5,-1\ns2,3,4\ns3,1,1\ns4,2,2\n")
    meta = tmp_path / "meta.csv"
    meta.write_text("sample,condition\ns1,a\ns2,a\ns3,b\ns4,b\n")
    result = _run_cli(tmp_path, "data=csv", f"data.adata.counts_path={counts}", f"data.adata.metadata_path={meta}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("genexai error:") and str(counts) in lines[-1] and "negative" in lines[-1]
    assert "Traceback" not in result.stderr


def test_pasilla_stops_with_a_sample_size_message(tmp_path):
    real_data("pasilla")
    result = _run_cli(tmp_path, "data=pasilla")
    assert result.returncode == 2
    assert "too few samples" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_transformer_on_tcga_reaches_auroc_090(train_cfg):
    """Acceptance of the transformer: `python train.py model=transformer data=tcga_brca_paired`."""
    real_data("tcga_brca_paired")
    cfg = train_cfg(["model=transformer", "data=tcga_brca_paired", "trainer.max_epochs=40", "attribution=none"])
    metrics = train(cfg)
    assert metrics["test/auroc"] >= 0.9, metrics


def test_transformer_on_every_gene_with_the_gpu_settings_runs_on_cpu(train_cfg):
    """The full-transcriptome path at small size: data.n_genes=all, bf16 autocast, gradient checkpointing, CLS attention."""
    cfg = train_cfg([
        "model=transformer", "data.n_genes=all", "data.adata.n_samples=40", "data.adata.n_genes=150",
        "model.backbone.d_model=32", "model.backbone.n_layers=2", "model.backbone.gradient_checkpointing=true",
        "trainer.precision=bf16-mixed", "trainer.max_epochs=2", "attribution.methods=[{name: attention}]",
    ])
    metrics = train(cfg)
    importance = pd.read_csv(Path(cfg.paths.output_dir) / "importance.csv")
    assert metrics["n_genes"] > 100  # every expressed gene is a token, not a top-variance subset
    assert importance["gene"].nunique() == metrics["n_genes"]


@pytest.mark.parametrize("model", ["transformer", "mlp"])
def test_default_attribution_runs_attnlrp_on_the_transformer_only(train_cfg, model):
    """`python train.py model=transformer` runs AttnLRP with the default methods; the MLP skips it with a reason."""
    tiny = ["model.backbone.d_model=16", "model.backbone.n_layers=1"] if model == "transformer" else []
    cfg = train_cfg([
        f"model={model}", "data.adata.n_samples=40", "data.adata.n_genes=60", "data.n_genes=20",
        "trainer.max_epochs=1", *tiny,
    ])
    assert {"name": "attnlrp"} in list(cfg.attribution.methods)
    metrics = train(cfg)
    methods = set(pd.read_csv(Path(cfg.paths.output_dir) / "importance.csv")["method"])
    info = metrics["attribution"]["attnlrp"]
    if model == "transformer":
        assert "attnlrp" in methods and "delta_abs_mean" in info and "cls_relevance_mean" in info
    else:
        assert "attnlrp" not in methods and "no attention layers" in info["skipped"]
