"""Reading and validating counts: each bad input gives one clear DataError naming the file."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from genexai.data import read_counts_csv, read_h5ad
from genexai.errors import DataError
from tests.conftest import real_data


def write_dataset(tmp_path, counts: pd.DataFrame, meta: pd.DataFrame, sep: str = ","):
    counts_path, meta_path = tmp_path / "counts.csv", tmp_path / "metadata.csv"
    counts.to_csv(counts_path, sep=sep, index_label="sample")
    meta.to_csv(meta_path, index_label="sample")
    return counts_path, meta_path


@pytest.fixture
def good():
    rng = np.random.default_rng(0)
    samples = [f"s{i}" for i in range(8)]
    counts = pd.DataFrame(rng.poisson(50, (8, 20)), index=samples, columns=[f"g{j}" for j in range(20)])
    meta = pd.DataFrame({"condition": ["ctl"] * 4 + ["trt"] * 4}, index=samples)
    return counts, meta


def test_reads_valid_dataset(tmp_path, good):
    adata = read_counts_csv(*write_dataset(tmp_path, *good))
    assert adata.shape == (8, 20)
    assert adata.X.dtype == np.int64
    assert list(adata.obs["condition"]) == list(good[1]["condition"])


def _bad(counts: pd.DataFrame, meta: pd.DataFrame, case: str):
    counts, meta = counts.astype(float).copy(), meta.copy()
    if case == "negative":
        counts.iloc[1, 2] = -3
    elif case == "fraction":
        counts.iloc[0, 0] = 2.5
    elif case == "nan":
        counts.iloc[2, 3] = np.nan
    elif case == "inf":
        counts.iloc[2, 3] = np.inf
    elif case == "dup_sample":
        counts.index = ["s1"] + list(counts.index[1:])
    elif case == "dup_gene":
        counts.columns = ["g1"] + list(counts.columns[1:])
    elif case == "counts_not_in_meta":
        meta = meta.drop(index="s3")
    elif case == "meta_not_in_counts":
        counts = counts.drop(index="s3")
    elif case == "no_condition":
        meta = meta.rename(columns={"condition": "group"})
    elif case == "one_level":
        meta["condition"] = "ctl"
    elif case == "third_level_of_one_sample":
        meta.iloc[0, 0] = "other"
    elif case == "one_sample_class":
        meta["condition"] = ["ctl"] * 7 + ["trt"]
    elif case == "zero_sample":
        counts.iloc[5] = 0
    return counts, meta


CASES = {
    "negative": "negative values",
    "fraction": "raw integers",
    "nan": "NaN/inf",
    "inf": "NaN/inf",
    "dup_sample": "duplicated sample ID",
    "dup_gene": "duplicated gene ID",
    "counts_not_in_meta": "have no metadata row",
    "meta_not_in_counts": "have no counts row",
    "no_condition": "condition column 'condition' not found",
    "one_level": "one level only",
    "third_level_of_one_sample": "class 'other' has 1 sample(s)",
    "one_sample_class": "at least 2 per class",
    "zero_sample": "zero counts for every gene",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_line_error_naming_the_file(tmp_path, good, case):
    counts_path, meta_path = write_dataset(tmp_path, *_bad(*good, case))
    with pytest.raises(DataError) as info:
        read_counts_csv(counts_path, meta_path)
    message = str(info.value)
    assert CASES[case] in message
    assert "\n" not in message
    assert str(tmp_path) in message


def test_transposed_counts_are_recognised(tmp_path, good):
    counts, meta = good
    counts_path, meta_path = write_dataset(tmp_path, counts.T, meta)
    with pytest.raises(DataError, match="transposed"):
        read_counts_csv(counts_path, meta_path)


def test_wrong_delimiter_empty_and_truncated_files(tmp_path, good):
    counts, meta = good
    semicolon = tmp_path / "semi.csv"
    counts.to_csv(semicolon, sep=";", index_label="sample")
    with pytest.raises(DataError, match="single column"):
        read_counts_csv(semicolon, write_dataset(tmp_path, counts, meta)[1])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_counts_csv(empty, tmp_path / "metadata.csv")
    header_only = tmp_path / "header.csv"
    header_only.write_text("sample,g0,g1\n")
    with pytest.raises(DataError, match="no rows"):
        read_counts_csv(header_only, tmp_path / "metadata.csv")
    truncated = tmp_path / "trunc.csv.gz"
    truncated.write_bytes(gzip.compress(counts.to_csv().encode())[:60])
    with pytest.raises(DataError, match="truncated"):
        read_counts_csv(truncated, tmp_path / "metadata.csv")
    with pytest.raises(DataError, match="file not found"):
        read_counts_csv(tmp_path / "missing.csv", tmp_path / "metadata.csv")


def test_h5ad_counts_in_layer(tmp_path, good):
    import anndata as ad

    counts, meta = good
    adata = ad.AnnData(X=np.log1p(counts.to_numpy(float)), obs=meta, layers={"counts": counts.to_numpy()})
    path = tmp_path / "data.h5ad"
    adata.write_h5ad(path)
    with pytest.raises(DataError, match="layer"):
        read_h5ad(path)
    loaded = read_h5ad(path, layer="counts")
    np.testing.assert_array_equal(loaded.X, counts.to_numpy())


def test_reads_real_dataset():
    counts_path, meta_path = real_data("pasilla")
    adata = read_counts_csv(counts_path, meta_path)
    assert adata.n_obs == 7 and adata.n_vars > 10_000
    assert set(adata.obs["condition"]) == {"untreated", "treated"}
