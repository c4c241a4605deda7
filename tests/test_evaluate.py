"""`evaluate.py` end to end: a trained run → DESeq2 on its training samples → comparison + report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genexai.pipeline.build import build_datamodule
from genexai.de import build_de_method
from genexai.errors import ConfigError
from genexai.pipeline.evaluate import de_gene_sets, run_de_baseline
from genexai.pipeline.reload import evaluate
from genexai.pipeline.train import train
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


#: The model's rows of DESeq2 on TCGA's ~12,000 expressed genes: the batched engine keeps it to seconds.
DE_MODEL = ("de.genes=model", "de.inference=torch")


def _evaluate(run_dir: Path, out: Path, *overrides: str) -> dict:
    cfg = compose_config("evaluate", [f"run_dir={run_dir}", *overrides], out)
    return evaluate(cfg)


def test_train_then_evaluate_on_tcga_writes_the_report(tcga_run, tmp_path):
    out = tmp_path / "eval"
    metrics = _evaluate(tcga_run, out, f"de.cache_dir={tmp_path / 'cache'}", *DE_MODEL)
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

    warm = _evaluate(tcga_run, tmp_path / "eval2", f"de.cache_dir={tmp_path / 'cache'}", *DE_MODEL)
    assert warm["eval/de_cache_hit"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "eval2" / "de.csv", index_col="gene"), de)


def test_checkpoint_from_another_gene_set_is_refused(tcga_run, tmp_path):
    ckpt = tcga_run / "checkpoints" / "best.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    state["hyper_parameters"]["gene_names"] = ["ENSG_other"] * len(state["hyper_parameters"]["gene_names"])
    forged = tcga_run / "checkpoints" / "forged.ckpt"
    torch.save(state, forged)
    with pytest.raises(ConfigError, match="different gene set"):
        _evaluate(tcga_run, tmp_path / "eval", f"ckpt_path={forged}", *DE_MODEL)


def test_evaluate_needs_a_training_run(tmp_path):
    with pytest.raises(ConfigError, match="not a genexai training run"):
        _evaluate(tmp_path, tmp_path / "out")
    with pytest.raises(ConfigError, match="needs run_dir"):
        evaluate(compose_config("evaluate", [], tmp_path / "out"))


SMALL = ["data.adata.n_samples=40", "data.adata.n_genes=150", "data.n_genes=20"]
#: DESeq2 uncached (each call a fresh fit) on the batched engine: seconds; the gene universe is what is tested.
DE_OPTIONS = {"deseq2": ["de.cache_dir=null", "de.inference=torch"], "wilcoxon": []}


@pytest.mark.parametrize(
    ("de", "selection"),
    [("deseq2", "variance"), ("deseq2", "wilcoxon"), ("wilcoxon", "variance"), ("wilcoxon", "wilcoxon")],
)
def test_de_genes_model_keeps_the_rows_of_the_expressed_fit(train_cfg, de, selection):
    cfg = train_cfg([*SMALL, f"de={de}", *DE_OPTIONS[de], f"data.gene_selection={selection}"])
    datamodule = build_datamodule(cfg)
    cfg.de.genes = "expressed"
    expressed, _ = run_de_baseline(datamodule, cfg.de)
    cfg.de.genes = "model"
    model, _ = run_de_baseline(datamodule, cfg.de)
    assert set(datamodule.gene_names) < set(expressed.index)
    assert list(model.index) == datamodule.gene_names
    # Fitted independently (no cache), yet identical: p-values, padj (BH over the expressed genes), everything.
    pd.testing.assert_frame_equal(model, expressed.loc[datamodule.gene_names])
    # What the old code did, a fit on the model's genes alone, gives other numbers (size factors, trend, BH).
    train = datamodule.raw_counts("train")
    counts = pd.DataFrame(train.X, index=train.obs_names, columns=train.var_names)[datamodule.gene_names]
    method = build_de_method({"name": de, "inference": cfg.de.get("inference", "default")})
    alone, _ = method.test(counts, train.obs, design="~condition", ref_level="A")
    assert not np.allclose(alone["pvalue"], model["pvalue"], rtol=1e-6, equal_nan=True)
    assert not np.allclose(alone["padj"], model["padj"], rtol=1e-6, equal_nan=True)


def test_model_genes_outside_the_expression_filter_join_the_fit(train_cfg):
    datamodule = build_datamodule(train_cfg(SMALL))
    datamodule.setup()
    outside = datamodule.gene_names[3]
    datamodule.preprocessor.expressed_genes.remove(outside)  # as a DE selection on all genes could pick
    fitted, kept = de_gene_sets(datamodule, "model")
    assert kept == datamodule.gene_names
    assert set(fitted) == set(datamodule.preprocessor.expressed_genes) | {outside}
    assert fitted == [gene for gene in datamodule.adata.var_names if gene in set(fitted)]  # data order
    assert de_gene_sets(datamodule, "expressed") == (datamodule.preprocessor.expressed_genes, None)
    assert de_gene_sets(datamodule, "all") == (list(datamodule.adata.var_names), None)


def test_de_genes_model_reuses_the_deseq2_selection_fit(train_cfg, tmp_path):
    """With DE-selected genes, the baseline is the selection's own fit (a cache hit), subset to the model's genes."""
    cache = f"{tmp_path / 'cache'}"
    cfg = train_cfg([*SMALL, "data.gene_selection=deseq2",
                     f"de.cache_dir={cache}", "de.genes=model"])
    datamodule = build_datamodule(cfg)
    de, cache_hit = run_de_baseline(datamodule, cfg.de)
    assert cache_hit
    selection = datamodule.selection_de.drop(columns="selected")
    pd.testing.assert_frame_equal(de, selection.loc[datamodule.gene_names])
