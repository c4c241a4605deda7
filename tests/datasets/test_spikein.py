"""Spike-in by binomial thinning: exact null genes, realised fold changes, truth columns, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genexai.datasets.simulate import simulate_counts
from genexai.datasets.spikein import binomial_thin, spike_in, spikein_from_csv
from genexai.errors import ConfigError
from genexai.pipeline.train import train
from tests.conftest import real_data


@pytest.fixture(scope="module")
def source():
    """Stand-in for real one-condition samples: a null NB dataset (no planted effect)."""
    return simulate_counts(n_samples=60, n_genes=3000, de_fraction=0.0, seed=11)


def _source_rows(source, out) -> np.ndarray:
    """The source counts of the samples the spike-in dataset was built from, in its order."""
    return np.asarray(source[out.obs["source_sample"].to_numpy()].X)


def _realised_log2fc(before: np.ndarray, after: np.ndarray, in_b: np.ndarray) -> np.ndarray:
    """Change of log2(mean B / mean A) caused by the thinning, per gene (the groups' own difference cancels)."""
    ratio = lambda x: np.log2(x[in_b].mean(0) / x[~in_b].mean(0))  # noqa: E731
    return ratio(after) - ratio(before)


def test_null_genes_keep_their_counts_and_only_the_lower_group_is_thinned(source):
    out = spike_in(source, de_fraction=0.1, seed=0)
    before, after = _source_rows(source, out), np.asarray(out.X)
    de = out.var["is_de"].to_numpy()
    np.testing.assert_array_equal(after[:, ~de], before[:, ~de])
    assert (after <= before).all(), "thinning only removes reads"
    in_b = (out.obs["condition"] == "B").to_numpy()
    lfc = out.var["true_log2fc"].to_numpy()
    up, down = lfc > 0, lfc < 0
    np.testing.assert_array_equal(after[np.ix_(in_b, up)], before[np.ix_(in_b, up)])  # B keeps its counts when up
    np.testing.assert_array_equal(after[np.ix_(~in_b, down)], before[np.ix_(~in_b, down)])
    assert (after[np.ix_(~in_b, up)].sum(0) < before[np.ix_(~in_b, up)].sum(0)).all()


def test_requested_fold_changes_are_realised_on_average(source):
    out = spike_in(source, de_fraction=0.1, lfc_mean=1.0, lfc_sd=0.5, min_base_mean=20, seed=1)
    before, after = _source_rows(source, out).astype(float), np.asarray(out.X, dtype=float)
    in_b = (out.obs["condition"] == "B").to_numpy()
    de = out.var["is_de"].to_numpy()
    lfc = out.var["true_log2fc"].to_numpy()[de]
    error = _realised_log2fc(before[:, de], after[:, de], in_b) - lfc
    # Binomial noise only: the thinned group's total S ~ Bin(S0, p), so by the delta method
    # sd(log2 S/(p S0)) = sqrt((1 - p) / (p S0)) / ln 2 per gene; the mean error has sd sqrt(sum sd²)/n.
    p = np.exp2(-np.abs(lfc))
    thinned_group = np.where(lfc > 0, ~in_b[:, None], in_b[:, None])
    s0 = (before[:, de] * thinned_group).sum(0)
    se_mean = np.sqrt(((1 - p) / (p * s0)).sum()) / np.log(2) / de.sum()
    assert abs(error.mean()) < 4 * se_mean + 1e-3, (error.mean(), se_mean)
    for direction in (lfc > 0, lfc < 0):
        assert abs(error[direction].mean()) < 4 * se_mean * np.sqrt(de.sum() / direction.sum()) + 1e-3
    assert np.corrcoef(error + lfc, lfc)[0, 1] > 0.95


def test_library_thinning_is_the_only_change_of_null_genes(source):
    out = spike_in(source, de_fraction=0.05, library_thin_log2=1.0, seed=2)
    before, after = _source_rows(source, out).astype(float), np.asarray(out.X, dtype=float)
    de = out.var["is_de"].to_numpy()
    assert (after <= before).all()
    # Millions of reads: the kept fraction of the null genes is 1/2 to well within 0.5 %.
    assert after[:, ~de].sum() / before[:, ~de].sum() == pytest.approx(0.5, abs=0.005)
    in_b = (out.obs["condition"] == "B").to_numpy()
    np.testing.assert_allclose(_realised_log2fc(before[:, ~de], after[:, ~de], in_b).mean(), 0.0, atol=0.02)


def test_truth_columns_groups_and_parameters(source):
    out = spike_in(source, n_samples=40, n_de=120, up_fraction=0.25, seed=3)
    var, obs = out.var, out.obs
    assert out.X.dtype == np.int64
    assert var["is_de"].dtype == bool and var["is_de"].sum() == 120
    assert (var.loc[~var["is_de"], "true_log2fc"] == 0).all()
    assert (var.loc[var["is_de"], "true_log2fc"] != 0).all()
    assert (var["true_log2fc"] > 0).sum() == 30
    assert (var.loc[var["is_de"], "source_base_mean"] >= 10).all() and var.loc[var["is_de"], "spike_eligible"].all()
    assert list(obs["condition"].cat.categories) == ["A", "B"]
    assert obs["condition"].value_counts().to_dict() == {"A": 20, "B": 20}
    assert obs["source_sample"].isin(source.obs_names).all() and obs["source_sample"].is_unique
    assert "source_condition" in obs
    params = out.uns["spikein"]
    assert params["n_de"] == 120 and params["n_up"] == 30 and params["n_per_group"] == {"A": 20, "B": 20}
    assert params["seed"] == 3 and "thinning" in params["method"]


def test_fixed_effects_and_eligibility(source):
    out = spike_in(source, n_de=50, lfc_distribution="fixed", lfc_mean=2.0, up_fraction=1.0, min_base_mean=500, seed=4)
    de = out.var["is_de"]
    assert (out.var.loc[de, "true_log2fc"] == 2.0).all()
    assert (out.var.loc[de, "source_base_mean"] >= 500).all()
    with pytest.raises(ConfigError, match="only .* genes have a base mean"):
        spike_in(source, n_de=2500, min_base_mean=500)
    with pytest.raises(ConfigError, match="n_samples=61"):
        spike_in(source, n_samples=61)
    with pytest.raises(ConfigError, match="lfc_distribution"):
        spike_in(source, lfc_distribution="gamma")


def test_same_seed_same_dataset_other_seed_differs(source):
    a, b, c = (spike_in(source, n_samples=30, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.X, b.X)
    assert a.obs.equals(b.obs) and a.var.equals(b.var)
    assert not np.array_equal(a.var["is_de"], c.var["is_de"])
    assert not np.array_equal(a.obs["source_sample"], c.obs["source_sample"])


def test_binomial_thin_without_effects_copies_counts():
    counts = np.random.default_rng(0).poisson(50, (6, 20))
    rng = np.random.default_rng(1)
    out = binomial_thin(counts, np.arange(6) % 2 == 0, np.zeros(20), rng)
    np.testing.assert_array_equal(out, counts)
    with pytest.raises(ConfigError, match="library_thin_log2"):
        binomial_thin(counts, np.arange(6) % 2 == 0, np.zeros(20), rng, library_thin_log2=-1)


def test_spikein_from_yeast_wild_type():
    counts, metadata = real_data("yeast_snf2")
    out = spikein_from_csv(counts, metadata, "wt", exclude_column="flagged_bad_replicate", lfc_mean=1.0, seed=0)
    assert out.n_obs == 42 and out.obs["condition"].value_counts().to_dict() == {"A": 21, "B": 21}
    assert (out.obs["source_condition"] == "wt").all() and not out.obs["flagged_bad_replicate"].any()
    assert out.var["is_de"].sum() == round(0.05 * out.n_vars)
    assert out.uns["source"]["level"] == "wt"


def test_train_and_evaluate_on_spikein_scores_against_the_truth(train_cfg, tmp_path):
    real_data("yeast_snf2")
    cfg = train_cfg(
        [
            "data=spikein", "data.adata.n_samples=24", "data.n_genes=200", "trainer.max_epochs=2",
            "attribution.methods=[{name: saliency}]", "evaluate=true", "de.genes=model", "de.inference=torch",
            f"de.cache_dir={tmp_path / 'cache'}",
        ]
    )
    metrics = train(cfg)
    assert "eval/auprc_vs_truth/saliency" in metrics and "eval/auprc_vs_truth/deseq2" in metrics
    comparison = (Path(cfg.paths.output_dir) / "evaluation" / "comparison.csv").read_text()
    assert "truth" in comparison
