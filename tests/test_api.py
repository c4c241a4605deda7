"""``genexai.run(adata, overrides)``: the train.py run from Python, results back into AnnData and ``results.h5ad``."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest

import genexai
from genexai.data.io import read_counts_csv
from genexai.datasets.simulate import simulate_counts
from tests.conftest import DATA_DIR, real_data

FAST = ["logger=none", "trainer.max_epochs=3", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false",
        "attribution.methods=[{name: saliency},{name: integrated_gradients, n_steps: 8}]", f"paths.data_dir={DATA_DIR}"]


def _check_results(result, adata: ad.AnnData, run_dir) -> ad.AnnData:
    assert result.run_dir == run_dir and (run_dir / "metrics.json").is_file() and (run_dir / "importance.csv").is_file()
    written = json.loads((run_dir / "metrics.json").read_text())
    assert written["test/auroc"] == result.metrics["test/auroc"]
    out = result.adata
    assert list(out.obs_names) == list(adata.obs_names) and list(out.var_names) == list(adata.var_names)
    assert out.var["model_gene"].sum() == written["n_genes"]
    for method in ("saliency", "integrated_gradients"):
        ranks = out.var.loc[out.var["model_gene"], f"rank_{method}"]
        assert sorted(ranks.astype(int)) == list(range(1, written["n_genes"] + 1))
        assert out.var.loc[~out.var["model_gene"], f"importance_{method}"].isna().all()
    assert out.obs["split"].value_counts().to_dict() == written["n_samples"]
    proba = out.obs[[c for c in out.obs.columns if c.startswith("proba_")]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert out.uns["genexai"]["metrics"]["test:auroc"] == written["test/auroc"]
    reread = ad.read_h5ad(run_dir / "results.h5ad")  # round-trips with plain anndata
    np.testing.assert_array_equal(reread.X, out.X)
    assert reread.var.equals(out.var) and reread.obs.equals(out.obs)
    assert reread.uns["genexai"]["metrics"]["test:auroc"] == written["test/auroc"]
    return out


def test_run_on_simulated_adata_with_evaluation(tmp_path):
    adata = simulate_counts(n_samples=80, n_genes=300, de_fraction=0.1, lfc_mean=1.5, seed=3)
    run_dir = tmp_path / "run"
    result = genexai.run(adata, [*FAST, "data.n_genes=100", "evaluate=true", "de.inference=torch",
                                 f"paths.log_dir={tmp_path}", f"hydra.run.dir={run_dir}"])
    out = _check_results(result, adata, run_dir)
    assert (run_dir / "evaluation" / "report.html").is_file()
    assert out.var.loc[out.var["model_gene"], "de_padj"].notna().any() and "de_log2FoldChange" in out.var
    assert "comparison" in out.uns["genexai"] and "auprc" in out.uns["genexai"]["comparison"]
    assert "is_de" in out.var, "the simulator's truth stays beside the results"


def test_run_on_tcga_brca_paired(tmp_path):
    counts, metadata = real_data("tcga_brca_paired")
    adata = read_counts_csv(counts, metadata)
    run_dir = tmp_path / "tcga"
    result = genexai.run(adata, [*FAST, "data=tcga_brca_paired", "data.n_genes=200", f"paths.log_dir={tmp_path}",
                                 f"hydra.run.dir={run_dir}"])
    _check_results(result, adata, run_dir)
    assert result.metrics["class_names"] == ["normal", "tumor"]


def test_run_refuses_cross_validation(tmp_path):
    from genexai.errors import ConfigError

    with pytest.raises(ConfigError, match="cross-validation"):
        genexai.run(simulate_counts(n_samples=40, n_genes=100, seed=0), [*FAST, "data.cv.folds=3", f"hydra.run.dir={tmp_path}"])
