"""The negative-binomial simulator: reproducible, planted truth realised in the counts, parameters from real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genexai.datasets.simulate import simulate_counts
from genexai.datasets.simulate import nb_params_from_counts, nb_params_from_csv
from genexai.errors import ConfigError
from tests.conftest import real_data


def test_same_seed_same_data_and_different_seed_differs():
    a = simulate_counts(n_samples=40, n_genes=300, seed=3)
    b = simulate_counts(n_samples=40, n_genes=300, seed=3)
    c = simulate_counts(n_samples=40, n_genes=300, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)


def test_truth_columns_and_de_fraction():
    adata = simulate_counts(n_samples=60, n_genes=1000, de_fraction=0.1, seed=0)
    assert adata.X.dtype == np.int64 and (adata.X >= 0).all()
    assert adata.var["is_de"].sum() == 100
    assert (adata.var.loc[~adata.var["is_de"], "true_log2fc"] == 0).all()
    assert (adata.var.loc[adata.var["is_de"], "true_log2fc"] != 0).all()
    assert set(adata.obs["condition"]) == {"A", "B"}


def test_planted_fold_changes_are_realised_and_dispersion_is_overdispersed():
    adata = simulate_counts(n_samples=400, n_genes=600, de_fraction=0.2, lfc_mean=1.5, size_factor_sd=0.0, seed=2)
    x = adata.X.astype(float)
    in_b = (adata.obs["condition"] == "B").to_numpy()
    expressed = adata.var["true_base_mean"].to_numpy() > 50
    de = adata.var["is_de"].to_numpy() & expressed
    observed = np.log2(x[in_b][:, de].mean(0) / x[~in_b][:, de].mean(0))
    np.testing.assert_allclose(observed, adata.var["true_log2fc"].to_numpy()[de], atol=0.35)
    null = ~adata.var["is_de"].to_numpy() & expressed
    mean, var = x[:, null].mean(0), x[:, null].var(0)
    assert np.median(var / mean) > 2, "counts should be over-dispersed relative to Poisson"


def test_nb_params_from_counts_recovers_the_simulated_means_and_dispersions():
    adata = simulate_counts(n_samples=120, n_genes=800, de_fraction=0.0, size_factor_sd=0.3, seed=6)
    params = nb_params_from_counts(pd.DataFrame(adata.X, columns=adata.var_names))
    truth = adata.var.loc[params.index]
    expressed = truth["true_base_mean"] > 50
    ratio_mean = params["base_mean"] / truth["true_base_mean"]
    ratio_disp = params.loc[expressed, "dispersion"] / truth.loc[expressed, "true_dispersion"]
    assert 0.8 < ratio_mean.median() < 1.25  # size factors are relative: a common scale may drift
    assert 0.8 < ratio_disp.median() < 1.25
    assert np.corrcoef(np.log(params.loc[expressed, "dispersion"]), np.log(truth.loc[expressed, "true_dispersion"]))[0, 1] > 0.8
    assert params.attrs["log_size_factor_sd"] == pytest.approx(0.3, abs=0.08)


def test_simulation_from_real_parameters_reproduces_their_distribution():
    counts, metadata = real_data("yeast_snf2")
    source = nb_params_from_csv(counts, metadata, "wt", exclude_column="flagged_bad_replicate")
    assert source.attrs["source"]["n_samples"] == 42
    adata = simulate_counts(n_samples=120, n_genes=2000, de_fraction=0.0, size_factor_sd=0.24, params=source, seed=0)
    assert adata.var["source_gene"].isin(source.index).all() and adata.var["source_gene"].is_unique
    group_a = np.asarray(adata.X)[(adata.obs["condition"] == "A").to_numpy()]
    again = nb_params_from_counts(group_a)
    for column in ("base_mean", "dispersion"):
        ratio = again[column].median() / source[column].median()
        assert 1 / 1.5 < ratio < 1.5, (column, ratio)
    for q in (0.25, 0.75):
        assert 1 / 2 < again["base_mean"].quantile(q) / source["base_mean"].quantile(q) < 2


def test_real_parameters_keep_the_default_path_and_are_checked():
    params = pd.DataFrame({"base_mean": [10.0, 100.0, 1000.0], "dispersion": [0.5, 0.1, 0.05]}, index=["g1", "g2", "g3"])
    adata = simulate_counts(n_samples=20, n_genes=10, params=params, seed=0)
    assert set(adata.var["true_base_mean"]) <= {10.0, 100.0, 1000.0}  # 10 genes from 3: with replacement
    with pytest.raises(ConfigError, match="base_mean"):
        simulate_counts(n_samples=20, n_genes=10, params={"mean": [1.0]})
    with pytest.raises(ConfigError, match="positive"):
        simulate_counts(n_samples=20, n_genes=10, params={"base_mean": [1.0, 0.0], "dispersion": [0.1, 0.1]})
