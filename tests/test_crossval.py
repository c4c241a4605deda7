"""`train.py data.cv.folds=K`: per-fold runs, the CV summary, resuming, and selection bias on pure noise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

import genexai.pipeline.crossval as crossval
from genexai.errors import ConfigError
from genexai.evaluation.ensemble import ensemble_vs_truth
from genexai.evaluation.metrics import expected_average_precision
from genexai.pipeline.build import build_datamodule
from genexai.pipeline.reload import evaluate
from genexai.pipeline.train import train
from tests.conftest import compose_config

FAST = ["logger=none", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false"]
# 60 samples, 30 planted DE genes among 300; 40 genes chosen by the Wilcoxon test of each fold's training part.
SIM = ["data.adata.n_samples=60", "data.adata.n_genes=300", "data.adata.de_fraction=0.1", "data.adata.lfc_mean=1.5",
       "data.gene_selection=wilcoxon", "data.n_genes=40"]
MLP_CV = [*FAST, *SIM, "trainer.max_epochs=3", "data.cv.folds=3",
          "attribution.methods=[{name: saliency}, {name: input_x_gradient}]",
          "evaluate=true", "de=wilcoxon", "de.genes=expressed", "comparison.ks=[5,20]"]
FOLDS = ["fold_0_0", "fold_0_1", "fold_0_2"]


@pytest.fixture(scope="module")
def mlp_cv(tmp_path_factory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("mlp_cv")
    metrics = train(compose_config("train", MLP_CV, run_dir))
    return run_dir, metrics


def test_every_fold_is_a_full_run_and_the_summary_aggregates_them(mlp_cv):
    run_dir, metrics = mlp_cv
    for fold in FOLDS:
        for name in ("metrics.json", "config.yaml", "importance.csv", "gene_selection.csv", "checkpoints/best.ckpt",
                     "evaluation/comparison.csv", "evaluation/report.html"):
            assert (run_dir / fold / name).is_file(), (fold, name)
    folds = {f: json.loads((run_dir / f / "metrics.json").read_text()) for f in FOLDS}
    aurocs = [folds[f]["test/auroc"] for f in FOLDS]
    summary = json.loads((run_dir / "cv_summary.json").read_text())
    assert summary["n_folds_done"] == 3 and summary["folds_missing"] == []
    assert summary["metrics"]["test/auroc"]["mean"] == pytest.approx(np.mean(aurocs))
    assert summary["metrics"]["test/auroc"]["sd"] == pytest.approx(np.std(aurocs, ddof=1))
    assert metrics["test/auroc"] == pytest.approx(np.mean(aurocs)) and metrics["cv/n_folds_done"] == 3
    assert json.loads((run_dir / "metrics.json").read_text())["test/auroc"] == pytest.approx(np.mean(aurocs))
    table = pd.read_csv(run_dir / "cv_summary.csv").set_index("metric")
    assert table.loc["test/auroc", "mean"] == pytest.approx(np.mean(aurocs)) and table.loc["test/auroc", FOLDS].notna().all()
    # each fold: the gene selection and the DE baseline saw its training samples only (a cache-free Wilcoxon each)
    for f in FOLDS:
        assert folds[f]["gene_selection"]["de_samples"] == folds[f]["n_samples"]["train"] == len(folds[f]["eval/de_samples"])
        assert folds[f]["n_genes"] == 40
    assert metrics["test/auroc"] > 0.8  # planted effects are strong


def test_every_fold_records_its_split_and_the_run_each_samples_test_fold(mlp_cv):
    run_dir, _ = mlp_cv
    top = pd.read_csv(run_dir / "splits.csv")
    assert list(top.columns) == ["sample", "condition", "repeat", "fold"]
    assert top["sample"].is_unique and len(top) == 60 and (top["repeat"] == 0).all()
    for k, fold in enumerate(FOLDS):
        splits = pd.read_csv(run_dir / fold / "splits.csv")
        assert list(splits["sample"]) == list(top["sample"])  # every sample once, in data order
        assert set(splits.loc[splits["split"] == "test", "sample"]) == set(top.loc[top["fold"] == k, "sample"])
        de_samples = json.loads((run_dir / fold / "metrics.json").read_text())["eval/de_samples"]
        assert sorted(splits.loc[splits["split"] == "train", "sample"]) == de_samples


def test_comparison_gene_ranks_and_stability_across_folds(mlp_cv):
    run_dir, _ = mlp_cv
    comparison = pd.read_csv(run_dir / "cv_comparison.csv")
    fdr = comparison[(comparison["method"] == "wilcoxon") & (comparison["reference"] == "truth")
                     & (comparison["metric"].isin(["realised_fdr", "power"]))]
    assert len(fdr) == 2 and (fdr["n"] == 3).all() and fdr["mean"].between(0, 1).all()
    assert {"saliency", "input_x_gradient"} <= set(comparison.loc[comparison["reference"] == "wilcoxon", "method"])
    ranks = pd.read_csv(run_dir / "importance_cv.csv")
    assert set(ranks["method"]) == {"saliency", "input_x_gradient", "wilcoxon"}
    saliency = ranks[ranks["method"] == "saliency"]
    assert saliency["gene"].is_unique and saliency["n_folds"].between(1, 3).all()
    assert (saliency["mean_rank"] <= saliency["mean_rank_missing_last"]).all()
    stability = pd.read_csv(run_dir / "cv_stability.csv").set_index(["method", "k"])
    assert set(stability.index) >= {("saliency", 5), ("saliency", 20), ("wilcoxon", 20), ("selected_genes", 40)}
    assert (stability["n_sets"] == 3).all()
    # the planted genes come back in every fold: far more stable than random gene sets
    assert stability.loc[("selected_genes", 40), "stability"] > 3 * stability.loc[("selected_genes", 40), "chance_stability"]


def test_fold_ensemble_ranking_is_scored_against_the_truth(mlp_cv):
    run_dir, metrics = mlp_cv
    ranks = pd.read_csv(run_dir / "importance_cv.csv")
    ensemble = pd.read_csv(run_dir / "cv_ensemble.csv").set_index("method")
    assert set(ensemble.index) == set(ranks["method"])
    # recomputed here from importance_cv.csv and the simulation's truth, with sklearn directly
    saliency = ranks[ranks["method"] == "saliency"].set_index("gene")
    adata = build_datamodule(compose_config("train", MLP_CV, run_dir), setup=False).adata
    is_de = adata.var["is_de"].reindex(saliency.index).astype(bool)
    expected = average_precision_score(is_de, -saliency["mean_rank_missing_last"])
    assert ensemble.loc["saliency", "auprc"] == pytest.approx(expected)
    assert ensemble.loc["saliency", "prevalence"] == pytest.approx(is_de.mean())
    assert ensemble.loc["saliency", "chance_auprc"] == pytest.approx(expected_average_precision(len(is_de), int(is_de.sum())))
    assert metrics["cv/ensemble/auprc_vs_truth/saliency"] == pytest.approx(expected)
    # the Wilcoxon-selected genes are mostly planted ones: the ensemble ranks them far above chance
    assert ensemble.loc["wilcoxon", "auprc"] > ensemble.loc["wilcoxon", "chance_auprc"] + 0.1


def test_ensemble_vs_truth_by_hand():
    ranks = pd.DataFrame({"method": ["m"] * 4, "gene": ["a", "b", "c", "d"], "mean_rank_missing_last": [1.0, 2.0, 3.0, 4.5]})
    table = ensemble_vs_truth(ranks, pd.Series({"a": True, "b": False, "c": True, "d": False, "e": True}))
    row = table.set_index("method").loc["m"]
    # ranking a, b, c, d with hits a and c: AP = (1/1 + 2/3) / 2; "e" was never scored, so it is not in the universe
    assert row["auprc"] == pytest.approx((1 + 2 / 3) / 2) and row["prevalence"] == 0.5 and row["n_genes"] == 4
    assert row["chance_auprc"] == pytest.approx(expected_average_precision(4, 2))


def test_rerun_skips_finished_folds_and_redoes_a_missing_one(mlp_cv, monkeypatch):
    run_dir, metrics = mlp_cv
    calls = []
    real = crossval.run_on_datamodule
    monkeypatch.setattr(crossval, "run_on_datamodule", lambda cfg, dm, **kw: calls.append(cfg.data.fold) or real(cfg, dm, **kw))
    again = train(compose_config("train", MLP_CV, run_dir))
    assert calls == [] and again["test/auroc"] == pytest.approx(metrics["test/auroc"])
    before = json.loads((run_dir / "fold_0_1" / "metrics.json").read_text())
    (run_dir / "fold_0_1" / "metrics.json").unlink()  # as if the run had been killed during fold 1
    redone = train(compose_config("train", MLP_CV, run_dir))
    assert calls == [1]
    after = json.loads((run_dir / "fold_0_1" / "metrics.json").read_text())
    assert after["test/auroc"] == pytest.approx(before["test/auroc"]) and redone["test/auroc"] == pytest.approx(metrics["test/auroc"])


def test_evaluate_on_a_fold_rebuilds_that_fold(mlp_cv, tmp_path):
    run_dir, _ = mlp_cv
    fold = json.loads((run_dir / "fold_0_2" / "metrics.json").read_text())
    out = evaluate(compose_config("evaluate", [f"run_dir={run_dir / 'fold_0_2'}", "de=wilcoxon"], tmp_path))
    assert out["eval/de_samples"] == fold["eval/de_samples"]
    with pytest.raises(ConfigError, match="serves no fold"):
        evaluate(compose_config("evaluate", [f"run_dir={run_dir}", "de=wilcoxon"], tmp_path / "top"))


def test_only_fold_runs_one_fold(tmp_path):
    cfg = compose_config("train", [*FAST, *SIM, "data.cv.folds=3", "data.cv.repeats=2", "data.cv.only_fold=4",
                                   "model=logreg_l1", "attribution=none"], tmp_path)
    metrics = train(cfg)
    assert sorted(p.name for p in tmp_path.glob("fold_*")) == ["fold_1_1"] and metrics["cv/n_folds_done"] == 1
    summary = json.loads((tmp_path / "cv_summary.json").read_text())
    assert summary["folds_done"] == ["fold_1_1"] and len(summary["folds_missing"]) == 5
    with pytest.raises(ConfigError, match="only_fold must be an integer in 0..5"):
        train(compose_config("train", [*FAST, *SIM, "data.cv.folds=3", "data.cv.repeats=2", "data.cv.only_fold=6",
                                       "model=logreg_l1", "attribution=none"], tmp_path / "bad"))


def _noise_cv(out: Path, seed: int, selection: str, scope: str) -> float:
    """Mean test AUROC over 5 folds: logistic regression on the top 20 DE genes of pure noise (40 samples x 2000 genes)."""
    cfg = compose_config("train", [
        *FAST, "data.adata.n_samples=40", "data.adata.n_genes=2000", "data.adata.de_fraction=0", f"data.adata.seed={seed}",
        f"data.gene_selection={selection}", f"data.gene_selection_scope={scope}", "data.n_genes=20", "data.cv.folds=5",
        "model=logreg_l1", "model.estimator.l1_ratio=0", "attribution=none",  # l1_ratio=0: plain L2 logistic regression
    ], out)
    return train(cfg)["test/auroc"]


def test_leaky_selection_is_optimistic_on_pure_noise_honest_is_not(tmp_path):
    """Selecting genes by a DE test that saw the test samples 'predicts' noise; selecting on the training part does not.

    The mean over folds of one 40-sample dataset has sd ~0.09 under the null (and CV on null data is
    biased slightly below 0.5), so the honest figure is the mean over the 20 folds of 4 datasets.
    """
    honest, leaky = [], []
    for seed in range(4):
        with pytest.warns(UserWarning, match="LEAKY"):
            leaky.append(_noise_cv(tmp_path / f"leaky{seed}", seed, "wilcoxon", "all_samples"))
        honest.append(_noise_cv(tmp_path / f"honest{seed}", seed, "wilcoxon", "train"))
    print(f"pure noise, wilcoxon selection: honest {np.round(honest, 3)} mean {np.mean(honest):.3f}; "
          f"leaky {np.round(leaky, 3)} mean {np.mean(leaky):.3f}")
    assert abs(np.mean(honest) - 0.5) < 0.1, honest
    assert np.mean(leaky) > 0.85 and min(leaky) > 0.75, leaky


@pytest.mark.slow
def test_leaky_deseq2_selection_is_optimistic_on_pure_noise(tmp_path):
    """The same with DESeq2 as the selecting test (PyDESeq2 on ~1850 genes x 28 samples per fold: ~3 min)."""
    honest, leaky = [], []
    for seed in range(4):
        with pytest.warns(UserWarning, match="LEAKY"):
            leaky.append(_noise_cv(tmp_path / f"leaky{seed}", seed, "deseq2", "all_samples"))
        honest.append(_noise_cv(tmp_path / f"honest{seed}", seed, "deseq2", "train"))
    print(f"pure noise, deseq2 selection: honest {np.round(honest, 3)} mean {np.mean(honest):.3f}; "
          f"leaky {np.round(leaky, 3)} mean {np.mean(leaky):.3f}")
    assert abs(np.mean(honest) - 0.5) < 0.1, honest
    assert np.mean(leaky) > 0.85, leaky
