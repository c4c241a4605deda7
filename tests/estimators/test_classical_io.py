"""Classical models saved without pickle (skops / XGBoost UBJSON + model.json) round-trip exactly; pickles are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier

from genexai.errors import ConfigError
from genexai.estimators import SklearnEstimator, build_estimator
from genexai.estimators.classical import ClassicalModel
from genexai.estimators.classical_io import META_FILE, TRUSTED_SKOPS_TYPES, load_classical, save_classical
from genexai.pipeline.build import build_datamodule
from tests.conftest import compose_config

SIM = ["data.adata.n_samples=120", "data.adata.n_genes=300", "data.adata.de_fraction=0.1", "data.adata.lfc_mean=1.5",
       "data.adata.seed=1", "data.n_genes=200", "logger=none"]
#: Every classical config, with importance methods cheap enough for the suite (each kind of method once).
MODELS = {
    "random_forest": ["model.estimator.n_estimators=50", "model.importance_methods=[impurity,feature_ablation]"],
    "xgboost": ["model.importance_methods=[tree_shap,impurity,{name:permutation,n_repeats:2}]"],
    "svm": ["model.importance_methods=[coefficients,coef_x_input]"],
    "svm_rbf": ["model.importance_methods=[feature_ablation]"],
    "logreg_l1": ["model.importance_methods=[coefficients,{name:permutation,n_repeats:2}]"],
}
THREE_CLASSES = ["data.adata.n_groups=3", "data.adata.lfc_mean=2.0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple]:
    """``name -> (cfg, datamodule, fitted estimator, run dir)`` for every classical config, two classes and three."""
    fitted = {}
    for name, options in MODELS.items():
        for classes, extra in ((2, []), (3, THREE_CLASSES)):
            run_dir = tmp_path_factory.mktemp(f"{name}_{classes}")
            cfg = compose_config("train", [f"model={name}", *SIM, *options, *extra], run_dir)
            datamodule = build_datamodule(cfg)
            estimator = build_estimator(cfg, datamodule)
            estimator.fit(datamodule, run_dir, [])
            fitted[f"{name}_{classes}"] = (cfg, datamodule, estimator, run_dir)
    return fitted


def _every_sample(datamodule) -> np.ndarray:
    return np.concatenate([datamodule.tensors(split)[0].numpy() for split in ("train", "val", "test")])


@pytest.mark.parametrize("key", [f"{name}_{k}" for name in MODELS for k in (2, 3)])
def test_a_reloaded_model_predicts_and_attributes_exactly_as_the_fitted_one(runs, key):
    cfg, datamodule, fitted, run_dir = runs[key]
    xgb = key.startswith("xgboost")
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == sorted([META_FILE, "model.ubj" if xgb else "model.skops"])
    reloaded, ckpt = SklearnEstimator.load(cfg, datamodule, run_dir, None)
    assert ckpt.name == ("model.ubj" if xgb else "model.skops")
    x = _every_sample(datamodule)
    assert np.array_equal(reloaded.predict_proba(x), fitted.predict_proba(x))
    assert np.array_equal(reloaded.predict(x), fitted.predict(x))
    for target in range(1, len(datamodule.class_names)):
        assert np.array_equal(reloaded.model.decision(x, target), fitted.model.decision(x, target))
    assert reloaded.model.best_iteration == fitted.model.best_iteration and reloaded.name == fitted.name
    if xgb:  # the wrapper's settings come back too (n_jobs, ...), not only the trees
        back = reloaded.model.estimator.get_params()
        given = {k: v for k, v in fitted.model.estimator.get_params().items() if v is not None and k != "missing"}
        assert {k: back[k] for k in given} == given and np.isnan(back["missing"])
    mine, theirs = (est.attribute(cfg.attribution, datamodule, cfg.seed)[0] for est in (fitted, reloaded))
    assert mine.to_csv(index=False) == theirs.to_csv(index=False)  # importance.csv's bytes (save_importance_table)
    meta = json.loads((run_dir / "checkpoints" / META_FILE).read_text())
    assert meta["gene_names"] == datamodule.gene_names and meta["class_names"] == datamodule.class_names


def test_the_trusted_skops_types_are_exactly_those_genexai_models_need(runs):
    needed = set()
    for key, (_, _, estimator, _) in runs.items():
        if not key.startswith("xgboost"):
            needed |= set(sio.get_untrusted_types(data=sio.dumps(estimator.model.estimator)))
    assert needed == set(TRUSTED_SKOPS_TYPES)


def test_a_model_needing_an_unreviewed_type_is_refused_when_saved_and_when_opened(tmp_path, runs):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)).astype(np.float32), np.repeat([0, 1], 20)
    model = ClassicalModel(HistGradientBoostingClassifier(max_iter=3), gene_names=list("abcde"), class_names=["A", "B"])
    model.fit(x, y)
    with pytest.raises(ConfigError, match="TreePredictor"):
        save_classical(model, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written
    # the same model planted into a genexai run: refused on opening, naming the type
    _, datamodule, _, run_dir = runs["logreg_l1_2"]
    planted = tmp_path / "run"
    shutil.copytree(run_dir / "checkpoints", planted / "checkpoints")
    sio.dump(model.estimator, planted / "checkpoints" / "model.skops")
    with pytest.raises(ConfigError, match="TreePredictor"):
        load_classical(planted)


def _legacy_copy(run_dir: Path, tmp_path: Path, estimator: SklearnEstimator) -> Path:
    """The run as an older genexai wrote it: model.joblib (a pickle, format 1) and a format-1 model.json."""
    legacy = tmp_path / "legacy"
    shutil.copytree(run_dir, legacy)
    for path in (legacy / "checkpoints").iterdir():
        path.unlink()
    model = estimator.model
    joblib.dump({"format_version": 1, "estimator": model.estimator, "importance_methods": model.importance_methods,
                 "gene_names": model.gene_names, "class_names": model.class_names, "best_iteration": model.best_iteration},
                legacy / "checkpoints" / "model.joblib")
    (legacy / "checkpoints" / META_FILE).write_text(json.dumps({"format_version": 1, "gene_names": model.gene_names,
                                                                "model_file": "model.joblib"}))
    return legacy


def test_a_legacy_joblib_opens_only_with_trust_pickle(runs, tmp_path):
    cfg, datamodule, fitted, run_dir = runs["xgboost_2"]
    legacy = _legacy_copy(run_dir, tmp_path, fitted)
    with pytest.raises(ConfigError, match="is a pickle.*trust_pickle=true"):
        SklearnEstimator.load(cfg, datamodule, legacy, None)
    with pytest.raises(ConfigError, match="is a pickle"):
        load_classical(legacy / "checkpoints" / "model.joblib")
    with pytest.raises(ConfigError, match="genes"):  # the gene set is still checked first, from model.json
        load_classical(legacy, gene_names=datamodule.gene_names[::-1], trust_pickle=True)
    reloaded, ckpt = SklearnEstimator.load(cfg, datamodule, legacy, None, trust_pickle=True)
    x = _every_sample(datamodule)
    assert ckpt.name == "model.joblib" and np.array_equal(reloaded.predict_proba(x), fitted.predict_proba(x))


@pytest.mark.parametrize("damage", ["truncated", "not_a_model", "format", "missing_key"])
def test_a_damaged_model_is_one_config_error(runs, tmp_path, damage):
    _, datamodule, _, run_dir = runs["random_forest_2"]
    broken = tmp_path / "broken"
    shutil.copytree(run_dir / "checkpoints", broken)
    meta = json.loads((broken / META_FILE).read_text())
    if damage == "truncated":
        (broken / "model.skops").write_bytes((broken / "model.skops").read_bytes()[:300])
    elif damage == "not_a_model":
        (broken / "model.skops").write_text("hello")
    elif damage == "format":
        (broken / META_FILE).write_text(json.dumps({**meta, "format": "pickle"}))
    else:
        (broken / META_FILE).write_text(json.dumps({k: v for k, v in meta.items() if k != "class_names"}))
    with pytest.raises(ConfigError) as err:
        load_classical(broken, gene_names=datamodule.gene_names)
    assert "\n" not in str(err.value) and str(broken) in str(err.value)

