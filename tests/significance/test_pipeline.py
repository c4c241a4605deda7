"""``significance=permutation|decoy`` through ``train.py`` and ``evaluate.py``: columns, files, report, metrics."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from genexai.pipeline.build import build_datamodule
from genexai.errors import ConfigError
from genexai.pipeline.reload import evaluate
from genexai.estimators import FitResult, LightningEstimator, Recipe, build_estimator
from genexai.pipeline.run import null_models
from genexai.significance.refit import derive_seeds, preserved_random_state
from genexai.significance.views import permuted_labels, with_decoys
from genexai.pipeline.train import train
from tests.conftest import compose_config
from tests.significance.conftest import MLP, QUIET, RIDGE, SMALL

SIG_COLUMNS = ["pvalue", "qvalue", "significance", "significance_score"]


@pytest.fixture(scope="module")
def mlp_permutation_run(tmp_path_factory) -> Path:
    """MLP, 3 epochs, B = 3 null models, evaluated against DESeq2 on the model's genes."""
    run_dir = tmp_path_factory.mktemp("sig_mlp")
    cfg = compose_config(
        "train",
        [*QUIET, *SMALL, "data.adata.de_fraction=0.1", *MLP, "trainer.max_epochs=3", "significance=permutation",
         "significance.n_permutations=3", "evaluate=true", "de.genes=model", f"de.cache_dir={run_dir / 'cache'}"],
        run_dir,
    )
    train(cfg)
    return run_dir


def test_permutation_run_adds_pvalues_and_compares_with_deseq2(mlp_permutation_run):
    run = mlp_permutation_run
    importance = pd.read_csv(run / "importance.csv")
    assert all(c in importance for c in SIG_COLUMNS)
    assert importance["pvalue"].between(1 / 4, 1).all()  # B = 3: resolution 1/(B+1)
    assert (importance["qvalue"] >= importance["pvalue"]).all()
    assert set(importance["significance"]) == {"permutation"}
    null = pd.read_parquet(run / "significance" / "null_importance.parquet")
    assert set(null["permutation"]) == {0, 1, 2} and set(null["method"]) == {"saliency", "integrated_gradients"}
    assert len(set(null["seed"])) == 3

    metrics = json.loads((run / "metrics.json").read_text())
    # null models train for as many epochs as the attributed checkpoint had
    best = torch.load(metrics["best_checkpoint"], map_location="cpu", weights_only=True)
    assert metrics["significance"]["recipe"]["epochs"] == best["epoch"] + 1
    assert "significance" in metrics["time_s"]

    calls = pd.read_csv(run / "evaluation" / "significance.csv")
    assert list(calls["method"]) == ["saliency", "integrated_gradients", "deseq2", "deseq2_model_genes"]
    assert (calls["alpha"] == 0.05).all()
    assert calls[["fdp", "power", "n_true"]].notna().all().all()  # simulated data: truth known
    deseq2 = calls.set_index("method").loc["deseq2"]
    de = pd.read_csv(run / "evaluation" / "de.csv", index_col="gene")
    assert deseq2["n_called"] == (de["padj"] < 0.05).sum()
    for method in ("saliency", "deseq2"):
        for key in ("n_called", "fdp", "power", "jaccard_deseq2"):
            assert f"eval/significance/{method}/{key}" in metrics
    report = (run / "evaluation" / "report.html").read_text()
    assert "Significance: genes called at nominal FDR 0.05" in report


def test_evaluate_py_compares_the_runs_qvalues_at_its_alpha(mlp_permutation_run, tmp_path):
    out = tmp_path / "eval"
    cfg = compose_config("evaluate", [f"run_dir={mlp_permutation_run}", "de.genes=model",
                                      f"de.cache_dir={mlp_permutation_run / 'cache'}"], out)
    metrics = evaluate(cfg)
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "significance.csv"), pd.read_csv(mlp_permutation_run / "evaluation" / "significance.csv")
    )
    assert "eval/significance/saliency/fdp" in metrics


def test_evaluate_py_can_recompute_significance(mlp_permutation_run, tmp_path):
    out = tmp_path / "eval"
    cfg = compose_config("evaluate", [f"run_dir={mlp_permutation_run}", "de.genes=model", "significance=decoy",
                                      "significance.alpha=0.1", f"de.cache_dir={mlp_permutation_run / 'cache'}"], out)
    evaluate(cfg)
    assert set(pd.read_csv(out / "importance.csv")["significance"]) == {"decoy"}
    assert (pd.read_csv(out / "significance.csv")["alpha"] == 0.1).all()
    assert json.loads((out / "significance" / "significance.json").read_text())["recipe"]["epochs"] >= 1


def test_decoys_stay_inside_the_significance_step(tmp_path):
    cfg = compose_config(
        "train",
        [*QUIET, *SMALL, "data.adata.de_fraction=0.1", *RIDGE, "significance=decoy", "significance.decoy_ratio=1.5",
         "evaluate=true", "de.genes=model", f"de.cache_dir={tmp_path / 'cache'}"],
        tmp_path,
    )
    metrics = train(cfg)
    genes = build_datamodule(cfg).gene_names
    importance = pd.read_parquet(tmp_path / "importance.parquet")
    for _, table in importance.groupby("method"):
        assert sorted(table["gene"]) == sorted(genes)  # the real genes, each once
    assert not importance["gene"].str.startswith("__decoy").any()
    for name in ("de.csv", "comparison.csv", "significance.csv"):
        assert "__decoy" not in (tmp_path / "evaluation" / name).read_text(), name
    assert "__decoy" not in (tmp_path / "evaluation" / "report.html").read_text()
    decoys = pd.read_parquet(tmp_path / "significance" / "decoy_importance.parquet")
    per_method = decoys[decoys["method"] == "coefficients"]
    assert per_method["is_decoy"].sum() == round(1.5 * len(genes)) == metrics["significance"]["n_decoys"]
    assert set(per_method.loc[per_method["is_decoy"], "source_gene"]) <= set(genes)
    assert importance["qvalue"].between(0, 1).all() and importance["pvalue"].between(0, 1).all()


def test_permuted_labels_keep_inputs_and_class_counts(small_sim_module):
    view = permuted_labels(small_sim_module, np.random.default_rng(0))
    for split in small_sim_module.split_index:
        x, y = small_sim_module.tensors(split)
        vx, vy = view.tensors(split)
        assert torch.equal(vx, x) and sorted(vy.tolist()) == sorted(y.tolist())
    assert not torch.equal(view.tensors("train")[1], small_sim_module.tensors("train")[1])
    assert view.gene_names == small_sim_module.gene_names


def test_decoys_are_within_split_permutations_of_their_gene(small_sim_module):
    view, sources = with_decoys(small_sim_module, 1.0, np.random.default_rng(0))
    n = small_sim_module.n_genes
    assert view.n_genes == 2 * n and view.gene_names[:n] == small_sim_module.gene_names
    for split in small_sim_module.split_index:
        x, y = small_sim_module.tensors(split)
        vx, vy = view.tensors(split)
        assert torch.equal(vx[:, :n], x) and torch.equal(vy, y)
        for k in (0, 7, n - 1):
            assert torch.equal(vx[:, n + k].sort().values, x[:, sources[k]].sort().values)
    train_x = view.tensors("train")[0]
    assert not torch.equal(train_x[:, n], train_x[:, sources[0]])


def test_classical_refit_with_the_observed_labels_and_seed_reproduces_the_observed_importances(tmp_path):
    cfg = compose_config("train", [*QUIET, *SMALL, "data.adata.de_fraction=0.1", *RIDGE], tmp_path)
    train(cfg)
    observed = pd.read_parquet(tmp_path / "importance.parquet")
    datamodule = build_datamodule(cfg)
    view = permuted_labels(datamodule, np.random.default_rng(0))
    view._tensors = {s: datamodule.tensors(s) for s in datamodule.split_index}  # identity "permutation"
    refit_and_attribute, _ = null_models(cfg, build_estimator(cfg, datamodule), None)
    refit = refit_and_attribute(view, cfg.seed)
    pd.testing.assert_frame_equal(refit.reset_index(drop=True), observed.reset_index(drop=True))


def test_recipe_and_seeds():
    estimator = LightningEstimator.__new__(LightningEstimator)  # recipe() reads only the fit record
    assert derive_seeds(0, 3, stream=0) == derive_seeds(0, 3, stream=0)
    assert len(set(derive_seeds(0, 3, stream=0) + derive_seeds(0, 3, stream=1) + derive_seeds(1, 3, stream=0))) == 9
    assert estimator.recipe(FitResult(checkpoint="", epochs=7)) == Recipe(epochs=7)
    with pytest.raises(ConfigError, match="epochs"):
        estimator.recipe(FitResult(checkpoint="", epochs=None))


@pytest.fixture(scope="module")
def small_sim_module(tmp_path_factory):
    cfg = compose_config("train", [*QUIET, *SMALL, "data.adata.de_fraction=0.1"], tmp_path_factory.mktemp("dm"))
    return build_datamodule(cfg)


@pytest.mark.parametrize("method", ["permutation", "decoy"])
def test_transformer_gets_pvalues_too(tmp_path, method):
    """Same code path as the MLP (Lightning); slow at full size, so only a tiny model here."""
    extra = ["significance.n_permutations=2"] if method == "permutation" else []
    cfg = compose_config(
        "train",
        [*QUIET, "model=transformer", "data.adata.n_samples=40", "data.adata.n_genes=120", "data.n_genes=40",
         "model.backbone.d_model=16", "model.backbone.n_layers=1", "trainer.max_epochs=2",
         "attribution.methods=[{name: attention}, {name: saliency}]", f"significance={method}", *extra],
        tmp_path,
    )
    train(cfg)
    importance = pd.read_parquet(tmp_path / "importance.parquet")
    assert set(importance["method"]) == {"attention", "saliency"}
    assert importance["qvalue"].between(0, 1).all() and set(importance["significance"]) == {method}
    if method == "permutation":
        assert set(np.round(importance["pvalue"] * 3).astype(int)) <= {1, 2, 3}  # B = 2: p in {1/3, 2/3, 1}


def test_the_significance_step_leaves_the_global_random_state_alone():
    before = (random.random(), np.random.random(), torch.rand(1).item())
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = (random.random(), np.random.random(), torch.rand(1).item())
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    with preserved_random_state():
        random.seed(5), np.random.seed(5), torch.manual_seed(5)
        random.random(), np.random.random(), torch.rand(1)
    assert (random.random(), np.random.random(), torch.rand(1).item()) == expected != before


@pytest.mark.parametrize("method", ["decoy", "permutation"])
def test_significance_on_de_selected_genes_is_refused_before_training(method, tmp_path, capsys, monkeypatch):
    # The pure-noise case: Wilcoxon picks 20 of 2000 noise genes with the real labels; decoys
    # then called 9 of them at q < 0.05. Refused with one line before anything trains.
    from tests.test_bad_input import one_error_line, run_script

    code, stderr = run_script(
        "train",
        [
            *QUIET, *RIDGE, "data.adata.n_samples=60", "data.adata.n_genes=2000", "data.adata.de_fraction=0",
            "data.gene_selection=wilcoxon", "data.n_genes=20", f"significance={method}", "significance.decoy_ratio=5"
            if method == "decoy" else "significance.n_permutations=20", f"hydra.run.dir={tmp_path}",
        ],
        capsys,
        monkeypatch,
    )  # fmt: skip
    assert code == 2
    line = one_error_line(stderr)
    assert f"significance={method} with data.gene_selection=wilcoxon" in line and "anti-conservative" in line
    assert not (tmp_path / "importance.csv").exists() and not (tmp_path / "checkpoints").exists()
