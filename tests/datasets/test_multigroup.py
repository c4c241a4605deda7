"""K >= 2 groups in the simulator and the spike-in: two groups unchanged, a planted truth per contrast realised."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from genexai.data.preprocess import median_of_ratios_log_geomeans, size_factors
from genexai.data.source import read_source
from genexai.datasets.simulate import nb_params_from_counts, simulate_counts
from genexai.datasets.spikein import binomial_thin_groups, spike_in, spikein_from_csv
from genexai.errors import ConfigError
from tests.conftest import real_data

#: sha256 of X, obs and var of two-group datasets made by the code before K groups existed:
#: ``n_groups=2`` must keep every earlier dataset (and its DE cache keys) byte for byte. A
#: numpy upgrade that changes its random streams changes them too; update them deliberately then.
SIMULATED_DIGEST = "614f9afedf69b077074f11f6b04ddebb0fc5f7304b22bad256b251ab35e8499e"
SPIKEIN_DIGEST = "ef6fc81851488d469d28678022a31a7a18eb19d03a449395f4a08406fcccc425"


@pytest.fixture(scope="module")
def source():
    """Stand-in for real one-condition samples: a null NB dataset (no planted effect)."""
    return simulate_counts(n_samples=60, n_genes=3000, de_fraction=0.0, seed=11)


def _digest(adata) -> str:
    h = hashlib.sha256(np.ascontiguousarray(adata.X).tobytes())
    h.update(adata.obs.to_csv().encode())
    h.update(adata.var.to_csv().encode())
    return h.hexdigest()


def _assert_identical(a, b) -> None:
    assert a.X.dtype == b.X.dtype and np.asarray(a.X).tobytes() == np.asarray(b.X).tobytes()
    pd.testing.assert_frame_equal(a.obs, b.obs, check_exact=True)
    pd.testing.assert_frame_equal(a.var, b.var, check_exact=True)
    assert repr(a.uns) == repr(b.uns)


def _log2_ratio(adata, level: str, reference: str = "A") -> np.ndarray:
    """log2 of mean size-factor-normalised counts, ``level`` vs ``reference``, per gene."""
    x = np.asarray(adata.X, dtype=float)
    normalised = x / size_factors(x, median_of_ratios_log_geomeans(x))[:, None]
    condition = adata.obs["condition"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):  # unexpressed genes; callers keep expressed ones
        return np.log2(normalised[condition == level].mean(0) / normalised[condition == reference].mean(0))


def _assert_contrast_columns(adata, levels: list[str], n_de: int) -> None:
    var = adata.var
    assert list(adata.obs["condition"].cat.categories) == levels
    assert "true_log2fc" not in var
    any_de = np.zeros(adata.n_vars, dtype=bool)
    for level in levels[1:]:
        de, lfc = var[f"is_de_{level}"], var[f"true_log2fc_{level}"]
        assert de.dtype == bool and de.sum() == n_de
        assert (lfc[~de] == 0).all() and (lfc[de] != 0).all()
        any_de |= de.to_numpy()
    np.testing.assert_array_equal(var["is_de"].to_numpy(), any_de)


def test_two_groups_is_the_default_and_unchanged():
    default = simulate_counts(n_samples=40, n_genes=300, de_fraction=0.1, seed=3)
    two = simulate_counts(n_samples=40, n_genes=300, de_fraction=0.1, seed=3, n_groups=2)
    _assert_identical(default, two)
    assert _digest(two) == SIMULATED_DIGEST
    assert list(two.var.columns) == ["is_de", "true_log2fc", "true_base_mean", "true_dispersion"]
    assert "n_groups" not in two.uns["source"]
    params = nb_params_from_counts(pd.DataFrame(default.X, columns=default.var_names))
    _assert_identical(
        simulate_counts(n_samples=30, n_genes=100, params=params, seed=1),
        simulate_counts(n_samples=30, n_genes=100, params=params, seed=1, n_groups=2),
    )


def test_two_group_spikein_is_the_default_and_unchanged():
    source = simulate_counts(n_samples=30, n_genes=500, de_fraction=0.0, seed=11)
    default = spike_in(source, de_fraction=0.1, library_thin_log2=0.5, seed=4)
    two = spike_in(source, de_fraction=0.1, library_thin_log2=0.5, seed=4, n_groups=2)
    _assert_identical(default, two)
    assert _digest(two) == SPIKEIN_DIGEST
    assert list(two.var.columns) == ["is_de", "true_log2fc", "spike_eligible", "source_base_mean"]


def test_three_group_simulation_plants_each_contrast():
    adata = simulate_counts(n_samples=301, n_genes=1000, de_fraction=0.2, lfc_mean=1.5, size_factor_sd=0.2, seed=5, n_groups=3)
    assert adata.obs["condition"].value_counts().to_dict() == {"A": 101, "B": 100, "C": 100}
    _assert_contrast_columns(adata, ["A", "B", "C"], n_de=200)
    both = adata.var["is_de_B"] & adata.var["is_de_C"]
    assert 0 < both.sum() < 200, "contrasts are drawn independently: some genes are DE in both"
    assert adata.uns["source"]["n_groups"] == 3
    expressed = adata.var["true_base_mean"].to_numpy() > 30
    for level in ("B", "C"):
        planted = adata.var[f"is_de_{level}"].to_numpy() & expressed
        truth = adata.var[f"true_log2fc_{level}"].to_numpy()[planted]
        assert np.corrcoef(_log2_ratio(adata, level)[planted], truth)[0, 1] > 0.9


def test_level_names_params_and_refusals():
    params = pd.DataFrame({"base_mean": [10.0, 100.0, 1000.0], "dispersion": [0.5, 0.1, 0.05]}, index=["g1", "g2", "g3"])
    adata = simulate_counts(n_samples=20, n_genes=10, params=params, seed=0, n_groups=4, class_names=["ctl", "t1", "t2", "t3"])
    assert list(adata.obs["condition"].cat.categories) == ["ctl", "t1", "t2", "t3"]
    assert adata.obs["condition"].value_counts().to_dict() == {"ctl": 5, "t1": 5, "t2": 5, "t3": 5}
    assert {"is_de_t1", "true_log2fc_t3", "source_gene"} <= set(adata.var.columns)
    with pytest.raises(ConfigError, match="class_balance"):
        simulate_counts(n_samples=30, n_genes=50, class_balance=0.3, n_groups=3)
    with pytest.raises(ConfigError, match="class_names"):
        simulate_counts(n_samples=30, n_genes=50, n_groups=3, class_names=("A", "B"))
    with pytest.raises(ConfigError, match="n_groups"):
        simulate_counts(n_samples=30, n_genes=50, n_groups=1)


def test_thinning_keeps_the_highest_group_and_scales_the_others():
    counts = np.full((9, 3), 1_000_000)
    group = np.repeat([0, 1, 2], 3)
    effects = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, -1.0], [-1.0, 0.0, 2.0]])
    out = binomial_thin_groups(counts, group, effects, np.random.default_rng(0))
    np.testing.assert_array_equal(out[:, 1], counts[:, 1])  # no effect: untouched
    np.testing.assert_array_equal(out[group == 1, 0], counts[group == 1, 0])  # highest group keeps its counts
    np.testing.assert_array_equal(out[group == 2, 2], counts[group == 2, 2])
    kept = lambda g, j: out[group == g, j].mean() / 1_000_000  # noqa: E731
    # Binomial(10^6, p) per entry, three per group: the kept fraction's relative sd is <= 0.15 %.
    np.testing.assert_allclose([kept(0, 0), kept(2, 0), kept(0, 2), kept(1, 2)], [2**-1, 2**-2, 2**-2, 2**-3], rtol=0.01)


def test_three_group_spikein_keeps_unplanted_genes_and_realises_the_contrasts(source):
    out = spike_in(source, de_fraction=0.1, lfc_sd=0.5, min_base_mean=30, seed=2, n_groups=3)
    assert out.obs["condition"].value_counts().to_dict() == {"A": 20, "B": 20, "C": 20}
    _assert_contrast_columns(out, ["A", "B", "C"], n_de=300)
    before = np.asarray(source[out.obs["source_sample"].to_numpy()].X)
    after = np.asarray(out.X)
    de = out.var["is_de"].to_numpy()
    np.testing.assert_array_equal(after[:, ~de], before[:, ~de])
    assert (after <= before).all(), "thinning only removes reads"
    assert out.var.loc[de, "spike_eligible"].all()
    params = out.uns["spikein"]
    assert params["n_groups"] == 3 and params["n_per_group"] == {"A": 20, "B": 20, "C": 20}
    assert params["n_de_any"] == de.sum() and set(params["n_up"]) == {"B", "C"}
    for level in ("B", "C"):
        planted = out.var[f"is_de_{level}"].to_numpy()
        truth = out.var[f"true_log2fc_{level}"].to_numpy()[planted]
        assert np.corrcoef(_log2_ratio(out, level)[planted], truth)[0, 1] > 0.9
    with pytest.raises(ConfigError, match="between 6"):
        spike_in(source, n_samples=5, n_groups=3)


def test_three_group_spikein_from_yeast_wild_type():
    counts, metadata = real_data("yeast_snf2")
    out = spikein_from_csv(counts, metadata, "wt", exclude_column="flagged_bad_replicate", seed=0, n_groups=3)
    assert out.n_obs == 42 and out.obs["condition"].value_counts().to_dict() == {"A": 14, "B": 14, "C": 14}
    assert (out.obs["source_condition"] == "wt").all() and not out.obs["flagged_bad_replicate"].any()
    _assert_contrast_columns(out, ["A", "B", "C"], n_de=round(0.05 * out.n_vars))
    real = read_source(counts, metadata, "wt", "condition", "flagged_bad_replicate")
    before = np.asarray(real[out.obs["source_sample"].to_numpy()].X)
    de = out.var["is_de"].to_numpy()
    np.testing.assert_array_equal(np.asarray(out.X)[:, ~de], before[:, ~de])
    for level in ("B", "C"):
        planted = out.var[f"is_de_{level}"].to_numpy() & (out.var["source_base_mean"].to_numpy() >= 50)
        truth = out.var[f"true_log2fc_{level}"].to_numpy()[planted]
        assert np.corrcoef(_log2_ratio(out, level)[planted], truth)[0, 1] > 0.9
