"""More than two classes end to end: K-way models, per-contrast attributions, per-contrast DE and the omnibus."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from genexai.attribution.table import omnibus_rows
from genexai.errors import AttributionError, ConfigError
from genexai.estimators.classical import ClassicalModel
from genexai.evaluation.classification import classification_metrics
from genexai.pipeline.contrasts import omnibus_fold_change
from genexai.pipeline.train import train
from genexai.utils.contrasts import CONTRAST, OMNIBUS

FAST = ["data.adata.n_groups=3", "data.adata.n_samples=120", "data.adata.n_genes=300", "data.adata.lfc_mean=2.0",
        "attribution.methods=[{name: saliency}, {name: integrated_gradients, n_steps: 8}]",
        "comparison.n_bootstrap=20", "comparison.faithfulness.n_random=3"]


def test_per_class_auroc_beside_the_macro_one():
    labels = np.array([0, 0, 1, 1, 2, 2])
    proba = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    proba[3] = [0.2, 0.2, 0.6]  # a B sample that looks like C: B's and C's one-vs-rest AUROC drop below 1
    metrics = classification_metrics(labels, proba.argmax(1), proba, 3, "test", class_names=["A", "B", "C"])
    per_class = [roc_auc_score(labels == k, proba[:, k]) for k in range(3)]
    assert [metrics[f"test/auroc_{c}"] for c in "ABC"] == pytest.approx(per_class)
    assert min(per_class) < 1.0
    assert metrics["test/auroc"] == pytest.approx(np.mean(per_class))
    assert "test/auroc_A" not in classification_metrics(labels[:4] % 2, proba[:4, :2].argmax(1), proba[:4, :2], 2, "test")


def test_omnibus_rows_rank_each_gene_by_its_largest_contrast():
    table = pd.DataFrame({
        CONTRAST: ["B"] * 3 + ["C"] * 3, "method": "m", "gene": ["g1", "g2", "g3"] * 2,
        "importance": [0.9, 0.1, 0.2, 0.1, 0.5, 0.3], "rank": [1, 3, 2, 3, 1, 2], "signed_diff": 1.0,
    })
    rows = omnibus_rows(table)
    assert set(rows[CONTRAST]) == {OMNIBUS}
    assert rows.set_index("gene")["importance"].to_dict() == {"g1": 0.9, "g2": 0.5, "g3": 0.3}
    assert rows.set_index("gene")["rank"].to_dict() == {"g1": 1, "g2": 2, "g3": 3}
    assert rows["signed_diff"].isna().all()


def test_omnibus_fold_change_is_the_largest_contrast_fold_change():
    genes = pd.Index(["g1", "g2", "g3"], name="gene")
    tables = {
        "B": pd.DataFrame({"log2FoldChange": [1.0, -3.0, np.nan]}, index=genes),
        "C": pd.DataFrame({"log2FoldChange": [-2.0, 0.5, np.nan]}, index=genes),
        OMNIBUS: pd.DataFrame({"log2FoldChange": np.nan, "padj": [0.01, 0.02, np.nan]}, index=genes),
    }
    lfc = omnibus_fold_change(tables)["log2FoldChange"]
    assert lfc.iloc[:2].tolist() == [-2.0, -3.0]
    assert np.isnan(lfc.iloc[2])


def test_classical_models_explain_each_class_against_the_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 6)).astype(np.float32)
    y = np.repeat([0, 1, 2], 30)
    x[y == 1, 0] += 2.0
    x[y == 2, 1] += 2.0
    model = ClassicalModel(LogisticRegression(max_iter=500), gene_names=[f"g{j}" for j in range(6)], class_names=["A", "B", "C"])
    model.fit(x, y)
    margin = model.core.decision_function(x)
    np.testing.assert_allclose(model.decision(x, 2), margin[:, 2] - margin[:, 0])
    with pytest.raises(AttributionError, match="reference class"):
        model.decision(x, 0)


@pytest.fixture(scope="module")
def three_group_run(tmp_path_factory):
    from tests.conftest import compose_config

    run_dir = tmp_path_factory.mktemp("three_groups")
    cfg = compose_config(
        "train",
        ["logger=none", "trainer.max_epochs=15", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false",
         "evaluate=true", "de.inference=torch", f"de.cache_dir={run_dir / 'cache'}", "comparison.ceiling=null", *FAST],
        run_dir,
    )
    return run_dir, train(cfg)


def test_three_groups_train_attribute_and_score_every_contrast(three_group_run):
    run_dir, metrics = three_group_run
    for key in ("test/auroc", "test/auroc_A", "test/auroc_B", "test/auroc_C", "test/f1", "test/acc", "test/auroc_ci_low"):
        assert np.isfinite(metrics[key]), key
    assert metrics["test/auroc"] > 0.8

    importance = pd.read_csv(run_dir / "importance.csv")
    assert importance.columns[0] == CONTRAST
    assert set(importance[CONTRAST]) == {"B", "C", OMNIBUS}
    b = importance[(importance[CONTRAST] == "B") & (importance["method"] == "saliency")]
    np.testing.assert_allclose(b["signed_diff"], b["mean_B"] - b["mean_A"], rtol=1e-5, atol=1e-7)

    de = pd.read_csv(run_dir / "evaluation" / "de.csv")
    assert list(de.columns[:2]) == ["gene", CONTRAST] and set(de[CONTRAST]) == {"B", "C", OMNIBUS}

    comparison = pd.read_csv(run_dir / "evaluation" / "comparison.csv")
    assert set(comparison[CONTRAST]) == {"B", "C", OMNIBUS}
    assert set(comparison["reference"]) == {"deseq2", "truth"}
    truth = comparison[(comparison["reference"] == "truth") & (comparison["method"] == "saliency")].set_index(CONTRAST)
    # Each contrast is scored against its own planted genes: far above the chance AUPRC.
    assert (truth["auprc"] > 2 * truth["chance_auprc"]).all()
    # The omnibus truth is the union of the contrasts' planted genes.
    var_hits = truth.loc[OMNIBUS, "n_hits"]
    assert var_hits >= max(truth.loc["B", "n_hits"], truth.loc["C", "n_hits"])
    assert metrics["eval/auprc_vs_truth/saliency"] == pytest.approx(truth.loc[OMNIBUS, "auprc"])
    assert metrics["eval/contrast_B/auprc_vs_truth/saliency"] == pytest.approx(truth.loc["B", "auprc"])

    report = (run_dir / "evaluation" / "report.html").read_text()
    assert "Contrast B vs A" in report and "Contrast C vs A" in report
    assert "Omnibus" in report
    summary = json.loads((run_dir / "evaluation" / "comparison.json").read_text())
    assert set(summary["best"]) == {"B", "C", OMNIBUS}


def test_significance_is_refused_for_three_groups_before_training(train_cfg):
    cfg = train_cfg([*FAST, "significance=decoy"])
    with pytest.raises(ConfigError, match="3 levels"):
        train(cfg)


@pytest.mark.parametrize("model", ["xgboost", "logreg_l1", "svm", "random_forest"])
def test_classical_models_train_on_three_groups(train_cfg, model, tmp_path):
    metrics = train(train_cfg([*FAST, f"model={model}", "data.n_genes=100"]))
    assert metrics["test/auroc"] > 0.8
    importance = pd.read_csv(tmp_path / "importance.csv")
    assert set(importance[CONTRAST]) == {"B", "C", OMNIBUS}


def test_a_one_vs_one_svm_explains_its_reference_pair():
    from sklearn.svm import SVC

    from genexai.attribution.registry import get_attribution

    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 5)).astype(np.float32)
    y = np.repeat([0, 1, 2], 30)
    x[y == 2, 3] += 3.0  # only gene 3 separates C from the reference A
    model = ClassicalModel(SVC(kernel="linear"), gene_names=[f"g{j}" for j in range(5)], class_names=["A", "B", "C"])
    model.fit(x, y)
    assert model.one_vs_one
    margin = model.decision(x, 2)
    assert margin[y == 2].mean() > 0 > margin[y == 0].mean()  # positive toward C, negative toward A
    coef = get_attribution("coefficients", model).attribute(x, target=2).numpy()
    assert int(np.abs(coef).argmax()) == 3 and coef[3] > 0
    np.testing.assert_allclose(x.astype(np.float64) @ coef, margin - margin.mean() + (x @ coef).mean(), atol=1e-6)


@pytest.mark.slow
def test_a_three_group_spike_in_from_real_yeast_counts_is_scored_end_to_end(train_cfg, tmp_path):
    from tests.conftest import real_data

    real_data("yeast_snf2")
    metrics = train(train_cfg([
        "data=spikein", "data.adata.n_groups=3", "data.n_genes=500", "trainer.max_epochs=30", "evaluate=true",
        "de.inference=torch", f"de.cache_dir={tmp_path / 'cache'}", "comparison.ceiling=null",
        "attribution.methods=[{name: saliency}]", "comparison.n_bootstrap=20", "comparison.faithfulness.enabled=false",
    ]))
    comparison = pd.read_csv(tmp_path / "evaluation" / "comparison.csv")
    truth = comparison[(comparison["reference"] == "truth") & (comparison["method"] == "saliency")].set_index(CONTRAST)
    assert set(truth.index) == {"B", "C", OMNIBUS}
    # Half-way from chance to perfect at least, per contrast (chance is high: a quarter to a half of the genes are planted).
    assert ((truth["auprc"] - truth["chance_auprc"]) > 0.5 * (1 - truth["chance_auprc"])).all()
    assert metrics["test/auroc"] > 0.7


def test_the_python_api_names_every_contrast(tmp_path):
    import genexai
    from genexai.datasets.simulate import simulate_counts

    adata = simulate_counts(n_samples=90, n_genes=200, n_groups=3, lfc_mean=2.0, seed=3)
    result = genexai.run(adata, [
        "evaluate=true", "de.inference=torch", f"de.cache_dir={tmp_path / 'cache'}", "comparison.ceiling=null",
        "attribution.methods=[{name: saliency}]", "logger=none", "trainer.max_epochs=3", f"hydra.run.dir={tmp_path}",
        "comparison.faithfulness.enabled=false", "comparison.n_bootstrap=0",
    ])
    var = result.adata.var
    for column in ("importance_saliency", "importance_saliency_B", "importance_saliency_C", "de_padj", "de_padj_B"):
        assert column in var, column
    model = var["model_gene"]
    assert (var.loc[model, "importance_saliency"] >= var.loc[model, ["importance_saliency_B", "importance_saliency_C"]].max(axis=1) - 1e-6).all()
    assert {"proba_A", "proba_B", "proba_C"} <= set(result.adata.obs.columns)
