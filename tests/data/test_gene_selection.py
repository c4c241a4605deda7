"""Gene selection by DE on the training samples only; CV folds; the deliberately leaky variant."""

from __future__ import annotations

import numpy as np
import pytest

from genexai.data import RNASeqDataModule
from genexai.data.datamodule import DE_SELECTIONS
from genexai.pipeline.build import build_de_method, de_selector
from genexai.datasets.simulate import simulate_counts
from genexai.data.split import cv_splits, cv_test_folds, split_table
from genexai.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def sim():
    return simulate_counts(n_samples=40, n_genes=300, de_fraction=0.1, lfc_mean=1.5, seed=2)


def _module(adata, **kwargs) -> RNASeqDataModule:
    options = {"reference_level": "A", "n_genes": 25, "seed": 0} | kwargs
    if options.get("gene_selection") in DE_SELECTIONS:  # the pipeline hands in ${de}'s method (no cache here)
        options["de_selector"] = de_selector(build_de_method({"name": options["gene_selection"], "cache_dir": None}))
    dm = RNASeqDataModule(adata, **options)
    dm.setup()
    return dm


def _with_new_test_counts(dm: RNASeqDataModule, rng: np.random.Generator):
    """The same data, but every test sample's counts replaced by unrelated ones."""
    changed = dm.adata.copy()
    test = dm.split_index["test"]
    changed.X[test] = rng.poisson(200.0, size=(len(test), changed.n_vars))
    return changed


@pytest.mark.parametrize("method", ["deseq2", "wilcoxon"])
def test_de_selection_ignores_test_samples(sim, method):
    dm = _module(sim.copy(), gene_selection=method)
    assert dm.n_genes == 25 and dm.selection_info["de_samples"] == len(dm.split_index["train"])
    # the selected genes are the DE test's 25 most significant of the training samples
    table = dm.selection_de
    assert set(table.index[table["selected"]]) == set(dm.gene_names)
    assert dm.adata.var.loc[dm.gene_names, "is_de"].mean() > 0.8  # planted genes found
    other = _module(_with_new_test_counts(dm, np.random.default_rng(0)), gene_selection=method)
    assert np.array_equal(other.split_index["test"], dm.split_index["test"])
    assert other.gene_names == dm.gene_names
    np.testing.assert_array_equal(other.preprocessor.mean, dm.preprocessor.mean)
    np.testing.assert_array_equal(other.tensors("train")[0].numpy(), dm.tensors("train")[0].numpy())


def test_de_selection_ignores_test_fold_samples_in_cv(sim):
    selector = de_selector(build_de_method({"name": "wilcoxon"}))
    base = RNASeqDataModule(sim.copy(), reference_level="A", n_genes=25, gene_selection="wilcoxon", cv={"folds": 4},
                            de_selector=selector)
    dm = base.with_fold(2)
    dm.setup()
    other = RNASeqDataModule(_with_new_test_counts(dm, np.random.default_rng(1)), **{**base._options, "fold": 2})
    other.setup()
    assert other.gene_names == dm.gene_names


def test_leaky_scope_sees_test_samples_and_warns(sim):
    with pytest.warns(UserWarning, match="LEAKY"):
        dm = _module(sim.copy(), gene_selection="wilcoxon", gene_selection_scope="all_samples")
    assert dm.selection_info["leaky"] and dm.selection_info["de_samples"] == sim.n_obs
    with pytest.warns(UserWarning, match="LEAKY"):
        other = _module(_with_new_test_counts(dm, np.random.default_rng(0)), gene_selection="wilcoxon",
                        gene_selection_scope="all_samples")
    assert other.gene_names != dm.gene_names  # the test samples decided which genes the model sees


def test_threshold_mode_keeps_every_hit(sim):
    dm = _module(sim.copy(), n_genes=10, gene_selection="wilcoxon", de_selection={"mode": "threshold", "alpha": 0.05})
    table = dm.selection_de
    assert dm.n_genes == int((table["padj"] < 0.05).sum()) > 10  # n_genes is ignored


def test_all_and_variance_selection_are_backward_compatible(sim):
    legacy = _module(sim.copy(), n_genes="all")
    assert _module(sim.copy(), gene_selection="all").gene_names == legacy.gene_names == legacy.preprocessor.expressed_genes
    variance = _module(sim.copy())
    assert variance.selection_de is None and variance.selection_info == {"method": "variance", "n_selected": 25, "scope": "train"}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"gene_selection": "pca"}, ConfigError, "gene_selection must be one of"),
        ({"gene_selection_scope": "all_samples"}, ConfigError, "only applies to DE-based selection"),
        ({"gene_selection": "wilcoxon", "n_genes": "all"}, ConfigError, "mode=threshold"),
        ({"gene_selection": "wilcoxon", "de_selection": {"genes": "some"}}, ConfigError, "de_selection.genes"),
        ({"gene_selection": "wilcoxon", "de_selection": {"alfa": 0.1}}, ConfigError, "unknown data.de_selection key"),
        ({"gene_selection": "wilcoxon", "de_selection": {"mode": "threshold", "alpha": 1e-30}}, DataError, "no gene has padj"),
        ({"cv": {"folds": 3}}, ConfigError, "serves no fold"),
    ],
)
def test_bad_selection_options_are_one_line_errors(sim, kwargs, error, match):
    with pytest.raises(error, match=match):
        _module(sim.copy(), **kwargs)


def test_cv_splits_partition_every_repeat():
    labels = np.array(["a"] * 12 + ["b"] * 9)
    folds = cv_splits(labels, folds=3, repeats=2, val_fraction=0.2, seed=4)
    assert [name for name, _ in folds] == [f"fold_{r}_{k}" for r in range(2) for k in range(3)]
    for repeat in range(2):
        tests = np.concatenate([split["test"] for _, split in folds[3 * repeat : 3 * repeat + 3]])
        assert sorted(tests) == list(range(21))  # every sample is tested exactly once per repeat
    for _, split in folds:
        parts = [set(split[s]) for s in ("train", "val", "test")]
        assert set.union(*parts) == set(range(21)) and sum(map(len, parts)) == 21
        for part in ("train", "val", "test"):
            assert set(labels[split[part]]) == {"a", "b"}
    assert not np.array_equal(folds[0][1]["test"], folds[3][1]["test"])  # repeats reshuffle
    again = cv_splits(labels, folds=3, repeats=2, val_fraction=0.2, seed=4)
    assert all(np.array_equal(a[1][p], b[1][p]) for a, b in zip(folds, again) for p in ("train", "val", "test"))
    with pytest.raises(DataError, match="data.cv.folds <= 9"):
        cv_splits(labels, folds=10)
    with pytest.raises(ConfigError, match="folds must be an integer >= 2"):
        cv_splits(labels, folds=1)


def test_split_tables_name_every_sample_once_per_split_and_repeat():
    labels = np.array(["a"] * 12 + ["b"] * 9)
    samples = [f"s{i}" for i in range(21)]
    folds = cv_splits(labels, folds=3, repeats=2, val_fraction=0.2, seed=4)
    table = cv_test_folds(samples, list(labels), folds, 3)
    assert list(table.columns) == ["sample", "condition", "repeat", "fold"] and len(table) == 42
    for number, (name, split) in enumerate(folds):
        repeat, k = divmod(number, 3)
        tested = table[(table["repeat"] == repeat) & (table["fold"] == k)]
        assert list(tested["sample"]) == [samples[i] for i in split["test"]], name
        rows = split_table(samples, list(labels), split)
        assert list(rows["sample"]) == samples and list(rows["condition"]) == list(labels)
        assert all(list(rows.loc[split[part], "split"].unique()) == [part] for part in ("train", "val", "test"))
