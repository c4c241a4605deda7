"""Classical baselines: fit through the DataModule, write the run dir, recover planted DE genes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides
from omegaconf import OmegaConf
from pytorch_lightning.loggers import CSVLogger

from omegaconf import open_dict

from genexai.attribution import importance_table
from genexai.attribution import (
    attribute_classical,
    classical_importance_table,
    compute_classical_importance,
)
from genexai.estimators import SklearnEstimator, estimator_class
from genexai.estimators.classical import ClassicalModel
from genexai.estimators.classical_io import load_classical
from genexai.pipeline import reload as evaluating
from genexai.pipeline import train as training
from genexai.pipeline.build import build_datamodule
from genexai.pipeline.run import run_on_datamodule
from genexai.errors import AttributionError, ConfigError
from tests.conftest import CONFIG_DIR, compose_config

# The brief's small simulation: 30 planted DE genes among 300, 200 genes kept by variance.
SIM = [
    "data.adata.n_samples=120",
    "data.adata.n_genes=300",
    "data.adata.de_fraction=0.1",
    "data.adata.lfc_mean=1.5",
    "data.adata.seed=1",
    "data.n_genes=200",
]
# Cheap importance settings per model: permutation over 200 genes is slow for forests and SVMs.
FAST = {
    "random_forest": ["model.estimator.n_estimators=100", "model.importance_methods=[impurity,feature_ablation,tree_shap]"],
    "xgboost": ["model.importance_methods=[tree_shap,impurity]"],
    "svm": ["model.importance_methods=[coefficients,coef_x_input]"],
    "svm_rbf": ["model.importance_methods=[feature_ablation,coefficients]"],
    "logreg_l1": ["model.importance_methods=[coefficients,coef_x_input,{name:permutation,n_repeats:2}]"],
}
INAPPLICABLE = {"random_forest": "tree_shap", "svm_rbf": "coefficients"}
METRIC_KEYS = [f"{split}/{name}" for split in ("val", "test") for name in ("acc", "auroc", "f1", "loss")]
TOP_K = 20


def is_classical(model_cfg) -> bool:
    return estimator_class(model_cfg) is SklearnEstimator


def train_classical(cfg, datamodule, run_dir, loggers=None):
    """The pipeline's run on ``datamodule`` into ``run_dir``: the fitted ClassicalModel and the metrics."""
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
    outcome = run_on_datamodule(cfg, datamodule, loggers=loggers)
    return outcome.estimator.model, outcome.metrics


def _planted_in_top(table: pd.DataFrame, is_de: pd.Series) -> tuple[int, float]:
    """Planted DE genes among one method's top-k, and the number expected at random.

    Sparse models (lasso, early-stopped boosting) give non-zero importance to only ~10-30
    genes and the rest tie at zero, unranked; k is capped at the number of non-zero genes.
    """
    k = min(TOP_K, int((table["importance"].abs() > 0).sum()))
    assert k >= 5, f"only {k} genes with non-zero importance"
    top = table.nsmallest(k, "rank")["gene"]
    return int(is_de.loc[top].sum()), k * float(is_de.loc[table["gene"]].mean())


@pytest.mark.parametrize("name", list(FAST))
def test_model_trains_writes_run_dir_and_recovers_planted_genes(train_cfg, name):
    cfg = train_cfg([f"model={name}", *SIM, *FAST[name]])
    assert is_classical(cfg.model)
    run_dir = Path(cfg.paths.output_dir)
    datamodule = build_datamodule(cfg)
    model, metrics = train_classical(cfg, datamodule, run_dir)

    assert isinstance(model, ClassicalModel) and model.fitted
    written = json.loads((run_dir / "metrics.json").read_text())
    for key in METRIC_KEYS:
        assert key in written and written[key] == metrics[key]
    assert metrics["test/auroc"] >= 0.9, metrics
    assert (run_dir / "checkpoints" / ("model.ubj" if name == "xgboost" else "model.skops")).is_file()
    meta = json.loads((run_dir / "checkpoints" / "model.json").read_text())
    assert meta["gene_names"] == datamodule.gene_names and meta["class_names"] == ["A", "B"]
    assert (run_dir / "config.yaml").is_file()

    table = pd.read_parquet(run_dir / "importance.parquet")
    reference = importance_table(
        {"x": np.zeros((2, 2))}, [0, 1], ["g1", "g2"], datamodule.class_names, inputs=np.zeros((2, 2)), directions={}
    )
    assert list(table.columns) == list(reference.columns)
    is_de = datamodule.adata.var["is_de"].astype(bool)
    skipped = INAPPLICABLE.get(name)
    expected = [m if isinstance(m, str) else m["name"] for m in OmegaConf.to_container(cfg.model.importance_methods)]
    assert list(table["method"].unique()) == [m for m in expected if m != skipped]
    if skipped:
        assert "skipped" in metrics["attribution"][skipped]
    for method, rows in table.groupby("method"):
        assert len(rows) == datamodule.n_genes and sorted(rows["rank"]) == list(range(1, datamodule.n_genes + 1))
        hits, chance = _planted_in_top(rows, is_de)
        assert hits >= 3 * chance, f"{name}/{method}: {hits} planted genes in top {TOP_K}, chance {chance:.1f}"


def test_xgboost_early_stops_and_tree_shap_is_complete(train_cfg, tmp_path):
    cfg = train_cfg(["model=xgboost", *SIM, "model.importance_methods=[tree_shap]"])
    datamodule = build_datamodule(cfg)
    model, metrics = train_classical(cfg, datamodule, tmp_path / "run")
    assert model.best_iteration is not None and model.best_iteration < cfg.model.estimator.n_estimators - 1
    assert metrics["best_iteration"] == model.best_iteration
    assert metrics["attribution"]["tree_shap"]["delta_abs_max"] < 1e-3  # contributions + bias == margin
    table = pd.read_parquet(tmp_path / "run" / "importance.parquet")
    # Per-sample attributions of the class-B log-odds: a gene the model uses correctly pushes
    # B samples toward B and A samples away, so mean_B - mean_A > 0 whichever way it changes.
    top = table.nsmallest(10, "rank")
    assert (top["signed_diff"] > 0).all()
    # `direction` separates them: it has the sign of the planted fold change.
    lfc = datamodule.adata.var["true_log2fc"]
    assert (np.sign(top["direction"].to_numpy()) == np.sign(lfc.loc[top["gene"]].to_numpy())).mean() >= 0.9


def test_linear_coefficients_are_signed_and_global(train_cfg, tmp_path):
    cfg = train_cfg(["model=svm", *SIM, "model.importance_methods=[coefficients]"])
    datamodule = build_datamodule(cfg)
    model, _ = train_classical(cfg, datamodule, tmp_path / "run")
    table = pd.read_parquet(tmp_path / "run" / "importance.parquet").set_index("gene")
    assert table[["mean_A", "mean_B"]].isna().all().all()
    assert np.allclose(table["importance"], table["signed_diff"].abs())
    # Coefficient sign = direction of the planted fold change for the strongest genes.
    lfc = datamodule.adata.var["true_log2fc"]
    top = table.nsmallest(15, "rank")
    agree = np.sign(top["signed_diff"]) == np.sign(lfc.loc[top.index])
    assert agree.mean() >= 0.8


def test_mismatching_gene_set_is_refused(train_cfg, tmp_path):
    cfg = train_cfg(["model=logreg_l1", *SIM, "model.importance_methods=[coefficients]"])
    datamodule = build_datamodule(cfg)
    run_dir = tmp_path / "run"
    model, _ = train_classical(cfg, datamodule, run_dir)

    reloaded = load_classical(run_dir, gene_names=datamodule.gene_names)
    x, _ = datamodule.tensors("test")
    assert np.array_equal(reloaded.predict(x), model.predict(x))

    with pytest.raises(ConfigError, match="different|missing"):
        load_classical(run_dir, gene_names=datamodule.gene_names[:-1] + ["not_a_gene"])
    with pytest.raises(ConfigError, match="order"):
        load_classical(run_dir, gene_names=list(reversed(datamodule.gene_names)))
    with pytest.raises(ConfigError, match="genes"):
        model.predict(x[:, :-1])
    other = build_datamodule(train_cfg(["model=logreg_l1", *SIM, "data.n_genes=150"]))
    with pytest.raises(ConfigError, match="200 genes"):
        attribute_classical(cfg.attribution, reloaded, other, seed=0)


def test_inapplicable_method_raises_unless_skipped(train_cfg, tmp_path):
    cfg = train_cfg(["model=svm_rbf", *SIM, "model.importance_methods=[feature_ablation]"])
    datamodule = build_datamodule(cfg)
    model, _ = train_classical(cfg, datamodule, tmp_path / "run")
    x, y = datamodule.tensors("train")
    with pytest.raises(AttributionError, match="linear"):
        compute_classical_importance(model, x, y, ["coefficients"])
    values, info = compute_classical_importance(model, x, y, ["coefficients", "feature_ablation"], skip_inapplicable=True)
    assert list(values) == ["feature_ablation"] and "skipped" in info["coefficients"]
    with pytest.raises(ConfigError, match="unknown"):
        compute_classical_importance(model, x, y, ["integrated_gradients"])


def test_importance_table_of_global_methods():
    table = classical_importance_table(
        {"perm": np.array([0.1, -0.2, 0.3]), "coef": np.array([-2.0, 1.0, 0.5]), "ps": np.ones((2, 3))},
        [0, 1],
        ["g1", "g2", "g3"],
        ["A", "B"],
        kinds={"coef": "global_signed"},
    )
    perm = table[table.method == "perm"].set_index("gene")
    assert perm.loc["g3", "rank"] == 1 and perm.loc["g2", "rank"] == 3 and perm["signed_diff"].isna().all()
    coef = table[table.method == "coef"].set_index("gene")
    assert coef.loc["g1", "rank"] == 1 and coef.loc["g1", "importance"] == 2.0 and coef.loc["g1", "signed_diff"] == -2.0
    assert table[table.method == "ps"]["mean_B"].eq(1.0).all()


def test_split_option_and_loggers(train_cfg, tmp_path):
    cfg = train_cfg(
        ["model=logreg_l1", *SIM, "model.importance_methods=[coefficients,{name:permutation,n_repeats:2,split:test}]"]
    )
    datamodule = build_datamodule(cfg)
    logger = CSVLogger(save_dir=tmp_path, name="csv", version="")
    _, metrics = train_classical(cfg, datamodule, tmp_path / "run", [logger])
    assert metrics["attribution"]["permutation"]["split"] == "test"
    logged = pd.read_csv(tmp_path / "csv" / "metrics.csv")
    assert {"val/auroc", "test/auroc", "test/loss"} <= set(logged.columns)
    assert (tmp_path / "csv" / "hparams.yaml").is_file()


def test_attribution_none_skips_importances(train_cfg, tmp_path):
    cfg = train_cfg(["model=xgboost", *SIM, "attribution=none"])
    _, metrics = train_classical(cfg, build_datamodule(cfg), tmp_path / "run")
    assert metrics["attribution"] == {} and not (tmp_path / "run" / "importance.parquet").exists()


@pytest.mark.parametrize("name", ["xgboost", "svm"])  # with class probabilities, and with a decision function only
def test_test_metrics_get_confidence_intervals(train_cfg, tmp_path, name):
    cfg = train_cfg([f"model={name}", *SIM, "attribution=none"])
    _, metrics = train_classical(cfg, build_datamodule(cfg), tmp_path / "run")
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["test/n_samples"] == metrics["n_samples"]["test"] == 24
    for metric in ("acc", "auroc"):
        assert written[f"test/{metric}_ci_low"] <= written[f"test/{metric}"] <= written[f"test/{metric}_ci_high"]
        assert written[f"test/{metric}_ci_low"] < 1.0  # 24 samples never pin a metric down to exactly 1


def test_neural_configs_are_not_classical(train_cfg):
    assert not is_classical(train_cfg(["model=mlp"]).model)
    assert not is_classical(None)


@pytest.mark.parametrize("name", ["xgboost_optuna", "random_forest_optuna"])
def test_hparams_search_configs_compose_with_existing_keys(name):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"hparams_search={name}"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert is_classical(cfg.model) and not cfg.attribution.methods
    assert cfg.optimized_metric == "val/loss" and cfg.hydra.sweeper.direction == "minimize"
    params = dict(cfg.hydra.sweeper.params)
    for key in params:
        assert OmegaConf.select(cfg, key, default="<missing>") != "<missing>", key
    # Every value must parse as an Optuna distribution (Hydra sweep syntax: no null choices).
    distributions, fixed = create_params_from_overrides([f"{key}={value}" for key, value in params.items()])
    assert set(distributions) == set(params) and not fixed


def test_train_entry_point_dispatches_classical_model(train_cfg):
    cfg = train_cfg(["model=xgboost", *SIM, "model.importance_methods=[tree_shap]"])
    metrics = training.train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert metrics["test/auroc"] >= 0.9
    assert (run_dir / "checkpoints" / "model.ubj").is_file() and (run_dir / "importance.parquet").is_file()
    recorded = json.loads((run_dir / "metrics.json").read_text())
    # every stage's cost is measured: a positive wall time and a peak RSS above the interpreter's own
    assert set(recorded["time_s"]) == {"data", "train", "attribution"}, recorded["time_s"]
    assert all(seconds > 0 for seconds in recorded["time_s"].values()), recorded["time_s"]
    assert all(mib > 50 for mib in recorded["peak_rss_mib"].values()), recorded["peak_rss_mib"]


def test_evaluate_reloads_a_classical_run(train_cfg, tmp_path):
    cfg = train_cfg(["model=logreg_l1", *SIM, "model.importance_methods=[coefficients,coef_x_input]"])
    run_dir = Path(cfg.paths.output_dir)
    train_classical(cfg, build_datamodule(cfg), run_dir)
    overrides = [f"run_dir={run_dir}", f"de.cache_dir={tmp_path / 'cache'}", "de.genes=model"]
    # Recompute the importances from the saved model.skops (attribution=default), then compare with DESeq2.
    metrics = evaluating.evaluate(compose_config("evaluate", [*overrides, "attribution=default"], tmp_path / "eval"))
    comparison = pd.read_csv(tmp_path / "eval" / "comparison.csv")
    assert set(comparison["method"]) >= {"coefficients", "coef_x_input"}
    recomputed = pd.read_parquet(tmp_path / "eval" / "importance.parquet")
    pd.testing.assert_frame_equal(recomputed, pd.read_parquet(run_dir / "importance.parquet"))
    truth = comparison[(comparison["reference"] == "truth") & (comparison["method"] == "coefficients")]
    assert float(truth["auprc"].iloc[0]) > 2 * float(truth["chance_auprc"].iloc[0]), metrics
    # faithfulness re-scores the reloaded model: deleting its largest coefficients hurts far more than random genes
    assert float(truth["faithfulness_logloss"].iloc[0]) > 0 and float(truth["faithfulness_auroc_pvalue"].iloc[0]) < 0.1
    curves = pd.read_csv(tmp_path / "eval" / "faithfulness.csv")
    assert set(curves["method"]) == {"coefficients", "coef_x_input", "random"}
    undeleted = curves.loc[curves["k"] == 0, "auroc"]
    assert np.allclose(undeleted, json.loads((run_dir / "metrics.json").read_text())["test/auroc"])
