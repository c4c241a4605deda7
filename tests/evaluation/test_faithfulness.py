"""Deletion-curve faithfulness: a known-genes classifier, its true / reversed / random rankings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from genexai.errors import ConfigError, DataError
from genexai.evaluation.faithfulness import RANDOM, deletion_grid, faithfulness, rankings_from_importance
from genexai.pipeline.train import train
from tests.conftest import compose_config

N_GENES, INFORMATIVE = 60, np.arange(5)


@pytest.fixture(scope="module")
def known_genes():
    """Test set and classifier whose log-odds are a sum over genes 0-4 only (standardised inputs)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, N_GENES)).astype(np.float32)
    weights = np.zeros(N_GENES)
    weights[INFORMATIVE] = 1.0

    def predict_proba(inputs: np.ndarray) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-1.5 * inputs @ weights))
        return np.column_stack([1 - p, p])

    labels = (rng.random(300) < predict_proba(x)[:, 1]).astype(np.int64)
    return predict_proba, x, labels


def _run(known_genes, rankings, **options):
    predict_proba, x, labels = known_genes
    return faithfulness(predict_proba, x, labels, rankings, np.zeros(N_GENES), k_max=20, n_points=8, n_random=20, **options)


def test_true_ranking_is_faithful_reversed_is_not_random_is_chance(known_genes):
    true = np.r_[INFORMATIVE, np.arange(5, N_GENES)]
    shuffled = np.random.default_rng(7).permutation(N_GENES)
    curves, summary = _run(known_genes, {"true": true, "reversed": true[::-1], "shuffled": shuffled})

    for name in ("faithfulness_auroc", "faithfulness_logloss"):
        assert summary.loc["true", name] > 0.1, summary
        assert summary.loc["true", name] > 2 * summary.loc["true", f"{name}_sd"]
        assert summary.loc["true", f"{name}_pvalue"] == pytest.approx(1 / 21)  # beats every random draw
        # the informative genes are never deleted (k <= 20 of 60): deletion hurts less than random
        assert summary.loc["reversed", name] < 0
        assert abs(summary.loc["shuffled", name]) < 3 * summary.loc["shuffled", f"{name}_sd"] + 0.02
    assert (summary["chance_faithfulness"] == 0).all()
    # once the 5 known genes are gone (grid point k = 6) the classifier flips a coin
    true_curve = curves[curves["method"] == "true"].set_index("k")
    assert true_curve.loc[4, "auroc"] > 0.6 and true_curve.loc[6, "auroc"] == pytest.approx(0.5)


def test_undeleted_point_is_the_test_score_and_the_random_curve_is_averaged(known_genes):
    predict_proba, x, labels = known_genes
    curves, _ = _run(known_genes, {"true": np.arange(N_GENES)})
    start = curves[curves["k"] == 0]
    assert set(start["method"]) == {"true", RANDOM}
    assert np.allclose(start["auroc"], roc_auc_score(labels, predict_proba(x)[:, 1]))
    assert np.allclose(start["log_loss"], log_loss(labels, predict_proba(x)))
    random = curves[curves["method"] == RANDOM]
    assert random["auroc_sd"].iloc[0] < 1e-12 and (random["auroc_sd"].iloc[1:] > 0).all()
    assert list(random["k"]) == list(deletion_grid(N_GENES, 20, 8))


def test_seed_fixes_the_reference_and_changes_it(known_genes):
    ranking = {"true": np.arange(N_GENES)}
    first, again, other = (_run(known_genes, ranking, seed=s)[1] for s in (3, 3, 4))
    assert first.equals(again)
    assert first.loc["true", "faithfulness_auroc_sd"] != other.loc["true", "faithfulness_auroc_sd"]


def test_three_classes_are_scored_one_vs_rest():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((90, 10)).astype(np.float32)
    labels = np.repeat([0, 1, 2], 30)
    x[:, 0] += labels  # gene 0 separates the classes

    def predict_proba(inputs: np.ndarray) -> np.ndarray:
        logits = np.column_stack([-inputs[:, 0], np.zeros(len(inputs)), inputs[:, 0]])
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    curves, summary = faithfulness(predict_proba, x, labels, {"gene0": np.arange(10)}, np.zeros(10), k_max=5, n_points=3)
    expected = roc_auc_score(labels, predict_proba(x), multi_class="ovr", average="macro")
    assert curves.loc[(curves["method"] == "gene0") & (curves["k"] == 0), "auroc"].item() == pytest.approx(expected)
    assert curves.loc[(curves["method"] == "gene0") & (curves["k"] == 1), "auroc"].item() == pytest.approx(0.5)
    assert summary.loc["gene0", "faithfulness_auroc"] > 0


def test_grid_and_bad_input():
    assert list(deletion_grid(1000, 100, 5)) == [0, 1, 3, 10, 32, 100]
    assert list(deletion_grid(4, 100, 16)) == [0, 1, 2, 3, 4]  # capped at the genes, no duplicates
    with pytest.raises(ConfigError, match="k_max"):
        deletion_grid(10, 0, 5)
    with pytest.raises(DataError, match="not a model input"):
        rankings_from_importance(
            pd.DataFrame({"method": "m", "gene": ["g0", "gx"], "importance": [1.0, 2.0]}), ["g0", "g1"]
        )


def test_short_or_reserved_rankings_are_refused(known_genes):
    with pytest.raises(DataError, match="ranks 3 distinct"):
        _run(known_genes, {"short": np.arange(3)})
    with pytest.raises(DataError, match="reserved"):
        _run(known_genes, {RANDOM: np.arange(N_GENES)})
    with pytest.raises(ConfigError, match="n_random"):
        faithfulness(*known_genes, {"m": np.arange(N_GENES)}, np.zeros(N_GENES), n_random=1)


def test_rankings_follow_importance_with_stable_ties():
    table = pd.DataFrame({"method": ["a"] * 4 + ["b"] * 4, "gene": list("wxyz") * 2,
                          "importance": [0.1, 0.9, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]})
    rankings = rankings_from_importance(table, list("zyxw"))
    assert list(rankings["a"]) == [2, 3, 1, 0]  # x, w, then the tie y, z in table order
    assert list(rankings["b"]) == [0, 1, 2, 3]


def test_fast_mlp_run_writes_faithfulness_beside_unchanged_comparison(tmp_path):
    base = [
        "logger=none", "trainer.max_epochs=3", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false",
        "data.adata.n_samples=60", "data.adata.n_genes=300", "data.n_genes=100",
        "attribution.methods=[{name: integrated_gradients}, {name: saliency}]",
        "evaluate=true", "de.genes=model", f"de.cache_dir={tmp_path / 'cache'}",
    ]
    metrics = train(compose_config("train", base, tmp_path / "on"))
    train(compose_config("train", [*base, "comparison.faithfulness.enabled=false"], tmp_path / "off"))
    on, off = tmp_path / "on" / "evaluation", tmp_path / "off" / "evaluation"

    comparison = pd.read_csv(on / "comparison.csv")
    columns = [c for c in comparison.columns if "faithfulness" in c]
    assert columns == [
        "faithfulness_auroc", "faithfulness_auroc_sd", "faithfulness_auroc_pvalue",
        "faithfulness_logloss", "faithfulness_logloss_sd", "faithfulness_logloss_pvalue", "chance_faithfulness",
    ]
    attributed = comparison[comparison["method"].isin(["integrated_gradients", "saliency"])]
    assert attributed[columns].notna().all().all() and len(attributed) == 4  # vs deseq2 and vs truth
    assert (attributed.groupby("method")[columns].nunique() == 1).all().all()  # one value per method
    assert comparison.loc[comparison["method"] == "deseq2", columns].isna().all().all()
    per_method = attributed.drop_duplicates("method").set_index("method")
    for method in ("integrated_gradients", "saliency"):
        assert metrics[f"eval/faithfulness_auroc/{method}"] == pytest.approx(per_method.loc[method, "faithfulness_auroc"])
    # existing columns and rows byte for byte as without faithfulness
    with_f = [line.split(",")[: -len(columns)] for line in (on / "comparison.csv").read_text().splitlines()]
    without = [line.split(",") for line in (off / "comparison.csv").read_text().splitlines()]
    assert with_f == without and not (off / "faithfulness.csv").exists()

    curves = pd.read_csv(on / "faithfulness.csv")
    assert set(curves["method"]) == {"integrated_gradients", "saliency", RANDOM}
    assert curves["k"].max() == 100
    undeleted = curves.loc[curves["k"] == 0, "auroc"]
    assert np.allclose(undeleted, metrics["test/auroc"], atol=1e-6)  # k = 0 is the run's own test AUROC
    assert (on / "deletion_curves.png").is_file()
    assert "Faithfulness: deleting each method" in (on / "report.html").read_text(encoding="utf-8")
