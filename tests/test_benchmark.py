"""The benchmark end to end on a tiny grid: outputs, resuming, failed cells, bad configuration."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from omegaconf import OmegaConf

from genexai.benchmarking import RESULT_FILE, run_benchmark, runner, topk_stability
from tests.conftest import compose_config
from tests.test_bad_input import one_error_line, run_script

#: A grid of 4 cells that runs in seconds: simulated data, a 2-epoch MLP and a 20-tree XGBoost, two seeds.
TINY_MODELS = {
    "mlp": {"overrides": ["model=mlp", "trainer.max_epochs=2"], "attribution": ["saliency", "input_x_gradient"]},
    "xgboost": {"overrides": ["model=xgboost", "model.estimator.n_estimators=20"], "attribution": None},
}
TINY_COMMON = [
    "logger=none", "evaluate=true", "data.n_genes=50", "data.adata.n_samples=40", "data.adata.n_genes=150",
    "de.genes=model", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false",
]


@pytest.fixture
def tiny(tmp_path):
    cfg = compose_config("benchmark", ["datasets=[simulated]", "seeds=[0,1]", "top_k=10"], tmp_path)
    cfg.models = OmegaConf.create(TINY_MODELS)
    cfg.common = TINY_COMMON
    cfg.out_dir = str(tmp_path / "bench")
    return cfg


def test_tiny_grid_end_to_end_then_resume(tiny, tmp_path, monkeypatch):
    table = run_benchmark(tiny)
    out = tmp_path / "bench"
    csv = pd.read_csv(out / "benchmark.csv")
    pd.testing.assert_frame_equal(csv, table, check_dtype=False)
    assert set(csv["model"]) == {"mlp", "xgboost"} and set(csv["seed"]) == {0, 1}
    assert set(csv.loc[csv["model"] == "mlp", "method"]) == {"saliency", "input_x_gradient", "deseq2"}
    assert {"tree_shap", "impurity", "permutation"} <= set(csv.loc[csv["model"] == "xgboost", "method"])
    assert set(csv["reference"]) == {"deseq2", "truth"}  # simulated data has a truth
    # every score sits beside its chance level, every stage has a time and a peak
    assert csv["chance_auprc"].notna().all() and csv["test_auroc"].between(0, 1).all()
    for stage in ("data", "de", "train", "attribution"):
        assert csv[f"seconds_{stage}"].notna().all() and (csv[f"peak_rss_mib_{stage}"] > 0).all()
    summary = (out / "summary.md").read_text()
    assert "| simulated | DESeq2 | padj ranking |" in summary and "top-10 Jaccard across seeds" in summary
    assert "4 of 4 cells completed" in summary and (out / "summary.html").is_file()

    # interrupted benchmark: one cell lost its result; a rerun redoes that cell only
    lost = out / "cells" / "simulated__mlp__seed1"
    (lost / RESULT_FILE).unlink()
    ran = []
    real = runner.run_cell
    monkeypatch.setattr(runner, "run_cell", lambda cfg, cell, cell_dir: ran.append(cell.id) or real(cfg, cell, cell_dir))
    again = run_benchmark(tiny)
    assert ran == ["simulated__mlp__seed1"]
    scores = [c for c in table.columns if not c.startswith(("seconds_", "peak_rss_mib_"))]
    pd.testing.assert_frame_equal(again[scores], table[scores], check_dtype=False)  # same config + seed: same scores


def test_a_failing_cell_is_recorded_and_the_rest_completes(tiny, tmp_path):
    tiny.models.mlp.overrides = ["model=mlp", "trainer.max_epochs=2", "data.min_count=1000000000"]
    tiny.seeds = [0]
    run_benchmark(tiny)
    out = tmp_path / "bench"
    error = json.loads((out / "cells" / "simulated__mlp__seed0" / "error.json").read_text())
    assert "no gene is left after filtering" in error["error"]
    assert (out / "cells" / "simulated__xgboost__seed0" / RESULT_FILE).is_file()
    assert "Failed cells" in (out / "summary.md").read_text() and "simulated | mlp | 0" in (out / "summary.md").read_text()


def test_topk_stability_is_one_for_identical_rankings_and_lower_otherwise(tmp_path):
    same = pd.DataFrame({"method": "m", "gene": ["a", "b", "c", "d"], "rank": [1, 2, 3, 4]})
    other = pd.DataFrame({"method": "m", "gene": ["a", "b", "c", "d"], "rank": [4, 3, 2, 1]})
    paths = []
    for i, table in enumerate([same, same, other]):
        paths.append(str(tmp_path / f"{i}.csv"))
        table.to_csv(paths[-1], index=False)
    assert topk_stability(paths[:2], k=2) == {"m": 1.0}
    assert topk_stability(paths, k=2)["m"] == pytest.approx((1 + 0 + 0) / 3)


def test_benchmark_refuses_an_unknown_dataset_in_one_line(tmp_path, capsys, monkeypatch):
    code, stderr = run_script("benchmark", ["datasets=[tcga]", f"paths.log_dir={tmp_path}"], capsys, monkeypatch)
    line = one_error_line(stderr)
    assert code == 2 and "['tcga']" in line and "tcga_brca_paired" in line
