"""The negative-binomial simulator: reproducible, planted truth realised in the counts."""

from __future__ import annotations

import numpy as np

from genexai.data import simulate_counts


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
