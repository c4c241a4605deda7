"""`evaluate.py` end to end: a trained run → DESeq2 on its training samples → comparison + report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from genexai.errors import ConfigError
from genexai.evaluating import evaluate
from genexai.training import train
from tests.conftest import compose_config, real_data


@pytest.fixture(scope="module")
def tcga_run(tmp_path_factory) -> Path:
    real_data("tcga_brca_paired")
    run_dir = tmp_path_factory.mktemp("tcga_run")
    cfg = compose_config(
        "train",
        [
            "data=tcga_brca_paired", "data.n_genes=300", "logger=none", "trainer.max_epochs=8",
            "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false",
            "attribution.methods=[{name: integrated_gradients, n_steps: 16}, {name: saliency}]",
        ],
        run_dir,
    )
    train(cfg)
    return run_dir


def _evaluate(run_dir: Path, out: Path, *overrides: str) -> dict:
    cfg = compose_config("evaluate", [f"run_dir={run_dir}", *overrides], out)
    return evaluate(cfg)


def test_train_then_evaluate_on_tcga_writes_the_report(tcga_run, tmp_path):
    out = tmp_path / "eval"
    metrics = _evaluate(tcga_run, out, f"de.cache_dir={tmp_path / 'cache'}", "de.genes=model")
    for name in ("report.html", "comparison.json", "comparison.csv", "de.csv", "volcano.png", "pr_curves.png"):
        assert (out / name).is_file(), name
    comparison = pd.read_csv(out / "comparison.csv")
    assert set(comparison["method"]) == {"integrated_gradients", "saliency"}
    assert comparison[["auprc", "chance_auprc", "auroc"]].notna().all().all()
    assert not metrics["eval/de_cache_hit"]
    de = pd.read_csv(out / "de.csv", index_col="gene")
    assert list(de.columns) == ["baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj"]
    # DESeq2 ran on exactly the training samples of the run.
    train_n = json.loads((tcga_run / "metrics.json").read_text())["n_samples"]["train"]
    assert len(metrics["eval/de_samples"]) == train_n

    warm = _evaluate(tcga_run, tmp_path / "eval2", f"de.cache_dir={tmp_path / 'cache'}", "de.genes=model")
    assert warm["eval/de_cache_hit"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "eval2" / "de.csv", index_col="gene"), de)


def test_checkpoint_from_another_gene_set_is_refused(tcga_run, tmp_path):
    ckpt = tcga_run / "checkpoints" / "best.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    state["hyper_parameters"]["gene_names"] = ["ENSG_other"] * len(state["hyper_parameters"]["gene_names"])
    forged = tcga_run / "checkpoints" / "forged.ckpt"
    torch.save(state, forged)
    with pytest.raises(ConfigError, match="different gene set"):
        _evaluate(tcga_run, tmp_path / "eval", f"ckpt_path={forged}", "de.genes=model")


def test_evaluate_needs_a_training_run(tmp_path):
    with pytest.raises(ConfigError, match="not a genexai training run"):
        _evaluate(tmp_path, tmp_path / "out")
    with pytest.raises(ConfigError, match="needs run_dir"):
        evaluate(compose_config("evaluate", [], tmp_path / "out"))
