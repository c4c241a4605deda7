"""edgeR and limma-voom wherever a DE method is selectable: training with evaluation, evaluate.py,
gene selection, the benchmark, and the inter-tool ceiling beside the DESeq2 scores."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from genexai.benchmarking import run_benchmark
from genexai.de.deseq2 import RESULT_COLUMNS
from genexai.pipeline.reload import evaluate
from genexai.pipeline.train import train
from tests.conftest import compose_config, require_r_engines

SMALL = [
    "data.adata.n_samples=40", "data.adata.n_genes=150", "data.n_genes=50", "trainer.max_epochs=2",
    "attribution.methods=[{name: saliency}]", "comparison.n_bootstrap=20", "comparison.faithfulness.enabled=false",
]


@pytest.fixture(autouse=True)
def _r_installed() -> None:
    require_r_engines()


def test_train_with_edger_evaluation_then_evaluate_with_voom(train_cfg, tmp_path: Path) -> None:
    cfg = train_cfg([*SMALL, "de=edger", "evaluate=true", f"de.cache_dir={tmp_path / 'cache'}"])
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    comparison = pd.read_csv(run_dir / "evaluation" / "comparison.csv")
    assert set(comparison["reference"]) == {"edger", "truth"}
    assert "edger" in set(comparison["method"])  # edgeR's own ranking against the truth
    de = pd.read_csv(run_dir / "evaluation" / "de.csv", index_col="gene")
    assert list(de.columns) == list(RESULT_COLUMNS) and (de["padj"] < 0.05).sum() > 5
    assert "Attribution vs edgeR (QL)" in (run_dir / "evaluation" / "report.html").read_text()
    assert list((tmp_path / "cache").glob("edger-*.parquet"))

    out = tmp_path / "voom"
    metrics = evaluate(compose_config("evaluate", [f"run_dir={run_dir}", "de=limma_voom"], out))
    assert metrics["eval/de_baseline"] == "limma_voom"
    assert 0 < metrics["eval/auprc_vs_limma_voom/saliency"] <= 1
    ceiling = pd.read_csv(out / "de_ceiling.csv")  # edgeR's ranking vs voom's hits
    assert list(ceiling["method"]) == ["edger"] and list(ceiling["reference"]) == ["limma_voom"]


@pytest.mark.parametrize("selection", ["edger", "limma_voom"])
def test_gene_selection_by_r_engines(train_cfg, tmp_path: Path, selection: str) -> None:
    cfg = train_cfg([*SMALL, f"data.gene_selection={selection}", f"de.cache_dir={tmp_path}"])
    train(cfg)
    table = pd.read_csv(Path(cfg.paths.output_dir) / "gene_selection.csv", index_col=0)
    assert table["selected"].sum() == 50
    # the selected genes are the test's 50 smallest padj (ties by p-value) of the training samples
    tested = table.dropna(subset=["padj"]).sort_values(["padj", "pvalue"], kind="stable")
    assert set(tested.index[:50]) == set(table.index[table["selected"]])


def test_report_shows_edger_ceiling_beside_deseq2(train_cfg, monkeypatch) -> None:
    cfg = train_cfg([*SMALL, "evaluate=true", "de.inference=torch", "de.cache_dir=null"])
    train(cfg)
    out = Path(cfg.paths.output_dir) / "evaluation"
    ceiling = pd.read_csv(out / "de_ceiling.csv")
    assert list(ceiling["method"]) == ["edger"] and list(ceiling["reference"]) == ["deseq2"]
    comparison = pd.read_csv(out / "comparison.csv")
    attribution = comparison[comparison["reference"] == "deseq2"]
    # the same genes and the same DESeq2 hits as the attribution rows, and a chance level beside it
    assert ceiling["n_genes_scored"].iloc[0] == attribution["n_genes_scored"].iloc[0]
    assert ceiling["n_hits"].iloc[0] == attribution["n_hits"].iloc[0]
    assert ceiling["auprc"].iloc[0] > 2 * ceiling["chance_auprc"].iloc[0]
    assert "Inter-tool ceiling: edgeR (QL) vs DESeq2 hits" in (out / "report.html").read_text()


def test_benchmark_with_edger_baseline(tmp_path: Path) -> None:
    cfg = compose_config("benchmark", ["datasets=[simulated]", "seeds=[0]", "top_k=10"], tmp_path)
    cfg.models = OmegaConf.create({"mlp": {"overrides": ["model=mlp"], "attribution": ["saliency"]}})
    cfg.common = ["logger=none", "evaluate=true", "de=edger", "~callbacks.rich_progress_bar",
                  "trainer.enable_progress_bar=false", *SMALL]
    cfg.out_dir = str(tmp_path / "bench")
    table = run_benchmark(cfg)
    assert set(table["reference"]) == {"edger", "truth"}
    summary = (tmp_path / "bench" / "summary.md").read_text()
    assert "DE = edgeR (QL) hits" in summary and "| simulated | edgeR (QL) | padj ranking |" in summary
