"""Replicate subsampling of yeast snf2: reference truth on every good replicate, n per group, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genexai.pipeline.build import build_datamodule
from genexai.cli import user_error
from genexai.pipeline.build import build_de_method
from genexai.pipeline import build
from genexai.datasets.subsample import replicate_subsample_from_csv
from genexai.errors import ConfigError
from tests.conftest import real_data


class FakeDESeq2:
    """Stands in for the handed-in DESeq2 method: records its inputs, returns a known table (every third gene a hit)."""

    def __init__(self) -> None:
        self.calls: list[tuple[pd.DataFrame, pd.DataFrame, dict]] = []

    def test(self, counts: pd.DataFrame, metadata: pd.DataFrame, **options) -> tuple[pd.DataFrame, bool]:
        self.calls.append((counts, metadata, options))
        n = counts.shape[1]
        lfc = np.linspace(-2.0, 2.0, n)
        padj = np.where(np.arange(n) % 3 == 0, 0.001, 0.5)
        zero = counts.sum(axis=0).to_numpy() == 0
        lfc[zero], padj[zero] = np.nan, np.nan
        table = pd.DataFrame(
            {"baseMean": counts.mean().to_numpy(), "log2FoldChange": lfc, "lfcSE": 0.1, "stat": lfc / 0.1, "pvalue": padj, "padj": padj},
            index=pd.Index(counts.columns, name="gene"),
        )
        return table, False


@pytest.fixture
def fake_deseq2(monkeypatch) -> FakeDESeq2:
    fake = FakeDESeq2()
    monkeypatch.setattr(build, "build_de_method", lambda de_cfg, name=None: fake)  # what the pipeline hands in
    return fake


@pytest.fixture(scope="module")
def yeast() -> tuple:
    return real_data("yeast_snf2")


def test_truth_from_every_good_replicate_and_n_per_group(yeast, fake_deseq2):
    out = replicate_subsample_from_csv(*yeast, n_per_group=6, reference_level="wt", truth_lfc_threshold=0.5, seed=0, de_method=fake_deseq2)
    (counts, metadata, options), = fake_deseq2.calls
    meta = pd.read_csv(yeast[1], index_col="sample")
    good = meta.index[~meta["flagged_bad_replicate"]]
    assert sorted(counts.index) == sorted(good) and len(good) == 86
    assert metadata["condition"].value_counts().to_dict() == {"snf2": 44, "wt": 42}
    assert options["ref_level"] == "wt" and options["design"] == "~condition"
    assert out.obs["condition"].value_counts().to_dict() == {"snf2": 6, "wt": 6}
    assert out.obs_names.isin(good).all()
    table, _ = fake_deseq2.test(counts, metadata)
    expected = (table["padj"] < 0.05) & (table["log2FoldChange"].abs() >= 0.5)
    np.testing.assert_array_equal(out.var["is_de"].to_numpy(), expected.to_numpy())
    np.testing.assert_array_equal(out.var["true_log2fc"].to_numpy(), table["log2FoldChange"].fillna(0).to_numpy())
    assert out.uns["subsample"]["reference_samples"] == {"snf2": 44, "wt": 42}
    assert out.uns["subsample"]["reference_n_de"] == int(expected.sum())


def test_subsample_is_deterministic_and_seeded(yeast, fake_deseq2):
    a, b, c = (replicate_subsample_from_csv(*yeast, n_per_group=5, reference_level="wt", seed=s, de_method=fake_deseq2) for s in (1, 1, 2))
    assert list(a.obs_names) == list(b.obs_names) and list(a.obs_names) != list(c.obs_names)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.var.equals(c.var), "the truth does not depend on the subsample seed"


def test_too_small_or_too_large_n_per_group_is_a_config_error(yeast, fake_deseq2):
    with pytest.raises(ConfigError, match="minimum is n_per_group=4"):
        replicate_subsample_from_csv(*yeast, n_per_group=3, de_method=fake_deseq2)
    assert not fake_deseq2.calls, "refused before any DESeq2 work"
    with pytest.raises(ConfigError, match="minimum is n_per_group=3"):
        replicate_subsample_from_csv(*yeast, n_per_group=2, val_fraction=0.15, test_fraction=0.0, de_method=fake_deseq2)
    with pytest.raises(ConfigError, match="'wt' has only 42"):
        replicate_subsample_from_csv(*yeast, n_per_group=43, reference_level="wt", de_method=fake_deseq2)


def test_config_minimum_n_per_group_splits_and_three_fails_in_one_line(yeast, fake_deseq2, train_cfg):
    datamodule = build_datamodule(train_cfg(["data=yeast_subsample", "data.adata.n_per_group=4"]))
    train = datamodule.adata.obs["condition"].iloc[datamodule.split_index["train"]]
    assert train.value_counts().to_dict() == {"snf2": 2, "wt": 2}
    assert "is_de" in datamodule.adata.var and fake_deseq2.calls[0][2]["ref_level"] == "wt"
    with pytest.raises(Exception) as caught:
        build_datamodule(train_cfg(["data=yeast_subsample", "data.adata.n_per_group=3"]))
    error = user_error(caught.value)
    assert isinstance(error, ConfigError) and "\n" not in str(error) and "n_per_group=4" in str(error)


def test_real_deseq2_reference_on_a_gene_subset_is_cached(yeast, tmp_path):
    counts = pd.read_csv(yeast[0], index_col="sample")
    small = tmp_path / "counts.csv"
    counts.iloc[:, :150].to_csv(small)
    deseq2 = build_de_method({"name": "deseq2", "cache_dir": str(tmp_path / "cache")})
    kwargs = dict(n_per_group=4, reference_level="wt", de_method=deseq2, seed=0)
    first = replicate_subsample_from_csv(small, yeast[1], **kwargs)
    again = replicate_subsample_from_csv(small, yeast[1], **kwargs)
    assert not first.uns["subsample"]["reference_cache_hit"] and again.uns["subsample"]["reference_cache_hit"]
    assert first.var.equals(again.var)
    assert 0 < first.var["is_de"].sum() < 150
    assert (first.var.loc[first.var["is_de"], "reference_padj"] < 0.05).all()


@pytest.mark.slow
def test_yeast_subsample_config_on_all_genes(train_cfg, tmp_path):
    """The real thing: DESeq2 on 86 samples × 7,126 genes (about a minute on 2 cores), then 12 per group."""
    real_data("yeast_snf2")
    datamodule = build_datamodule(train_cfg(["data=yeast_subsample"]))
    adata = datamodule.adata
    assert adata.obs["condition"].value_counts().to_dict() == {"snf2": 12, "wt": 12}
    info = adata.uns["subsample"]
    assert info["reference_samples"] == {"snf2": 44, "wt": 42}
    # Schurch et al.: most yeast genes change at this power; |log2FC| >= 1 keeps the strong ones.
    assert 200 < info["reference_n_de"] < 2000
    snf2 = adata.var.loc["YOR290C"]  # SNF2 itself, deleted in the mutant
    assert snf2["is_de"] and snf2["true_log2fc"] < -3
