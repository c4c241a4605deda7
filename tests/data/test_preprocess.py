"""Preprocessing is fitted on the training split only, and its size factors are DESeq2's."""

from __future__ import annotations

import numpy as np
import pytest

from genexai.data import Preprocessor, RNASeqDataModule, stratified_split
from genexai.data.preprocess import median_of_ratios_log_geomeans, size_factors
from genexai.errors import DataError


def test_size_factors_match_pydeseq2(small_sim):
    from pydeseq2.preprocessing import deseq2_norm

    counts = small_sim.X
    _, expected = deseq2_norm(counts)
    np.testing.assert_allclose(size_factors(counts, median_of_ratios_log_geomeans(counts)), expected, rtol=1e-10)


def test_split_is_stratified_seeded_and_disjoint():
    labels = np.array([0] * 30 + [1] * 20)
    a = stratified_split(labels, 0.2, 0.2, seed=5)
    assert a.keys() == {"train", "val", "test"}
    assert sorted(np.concatenate(list(a.values()))) == list(range(50))
    for part in a.values():
        assert set(labels[part]) == {0, 1}
    b = stratified_split(labels, 0.2, 0.2, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], stratified_split(labels, 0.2, 0.2, seed=6)["test"])


def test_too_few_samples_is_a_clear_error():
    with pytest.raises(DataError, match="too few samples"):
        stratified_split(np.array([0, 0, 0, 0, 1, 1, 1]), 0.15, 0.2)


def test_no_leakage_changing_val_and_test_counts_changes_nothing_fitted(small_sim):
    dm = RNASeqDataModule(small_sim.copy(), reference_level="A", n_genes=100, seed=0)
    dm.setup()
    tampered = small_sim.copy()
    held_out = np.concatenate([dm.split_index["val"], dm.split_index["test"]])
    rng = np.random.default_rng(0)
    tampered.X[held_out] = rng.poisson(1000, (len(held_out), tampered.n_vars))
    dm2 = RNASeqDataModule(tampered, reference_level="A", n_genes=100, seed=0)
    dm2.setup()
    assert dm.gene_names == dm2.gene_names
    np.testing.assert_array_equal(dm.preprocessor.mean, dm2.preprocessor.mean)
    np.testing.assert_array_equal(dm.preprocessor.std, dm2.preprocessor.std)
    np.testing.assert_array_equal(dm.preprocessor.log_geomeans, dm2.preprocessor.log_geomeans)
    np.testing.assert_array_equal(dm.tensors("train")[0], dm2.tensors("train")[0])
    # ...while the training data alone determines them: training inputs are centred, test ones are not.
    x_train = dm.tensors("train")[0].numpy()
    np.testing.assert_allclose(x_train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(x_train.std(0), 1, atol=1e-3)


def test_gene_filter_and_top_n_selection_use_training_variance():
    rng = np.random.default_rng(0)
    counts = rng.poisson(100, (20, 50))
    counts[:, 0] = 0  # unexpressed: filtered out
    counts[:10, 7] = rng.poisson(5000, 10)  # most variable gene
    pre = Preprocessor(min_count=10, min_samples=0.2, n_genes=5).fit(counts, [f"g{j}" for j in range(50)])
    assert "g0" not in pre.gene_names and "g7" in pre.gene_names and len(pre.gene_names) == 5
    assert Preprocessor(n_genes="all").fit(counts, [f"g{j}" for j in range(50)]).gene_names[0] == "g1"
    with pytest.raises(DataError, match="n_genes"):
        Preprocessor(n_genes=0).fit(counts, [f"g{j}" for j in range(50)])


def test_datamodule_class_order_and_raw_counts_for_deseq2(small_sim):
    dm = RNASeqDataModule(small_sim, reference_level="B", n_genes=50)
    dm.setup()
    assert dm.class_names == ["B", "A"]
    train = dm.raw_counts("train")
    assert train.n_vars == small_sim.n_vars and train.n_obs == len(dm.split_index["train"])
    assert np.issubdtype(train.X.dtype, np.integer)
    with pytest.raises(DataError, match="reference level"):
        RNASeqDataModule(small_sim, reference_level="C")
