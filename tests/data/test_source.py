"""Real source samples for semi-synthetic data: one condition, flagged replicates dropped, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genexai.data import read_counts_csv
from genexai.data.source import read_source
from genexai.errors import DataError
from tests.conftest import real_data
from tests.data.test_io import write_dataset


@pytest.fixture
def one_condition(tmp_path):
    rng = np.random.default_rng(0)
    samples = [f"s{i}" for i in range(6)]
    counts = pd.DataFrame(rng.poisson(50, (6, 10)), index=samples, columns=[f"g{j}" for j in range(10)])
    meta = pd.DataFrame({"condition": "ctl", "flagged": ["False", "True", "false", "0", "1", "no"]}, index=samples)
    return write_dataset(tmp_path, counts, meta)


def test_single_condition_source_with_text_flags(one_condition):
    with pytest.raises(DataError, match="one level only"):
        read_counts_csv(*one_condition)
    adata = read_source(*one_condition, level="ctl", exclude_column="flagged")
    assert list(adata.obs_names) == ["s0", "s2", "s3", "s5"]
    assert adata.uns["source"]["level"] == "ctl" and adata.uns["source"]["excluded_by"] == "flagged"


def test_unknown_level_or_exclusion_column_names_the_choices(one_condition):
    with pytest.raises(DataError, match=r"level 'trt' not found .* levels: \['ctl'\]"):
        read_source(*one_condition, level="trt")
    with pytest.raises(DataError, match="exclusion column 'bad' not in the metadata"):
        read_source(*one_condition, level="ctl", exclude_column="bad")
    with pytest.raises(DataError, match="True/False flags"):
        read_source(*one_condition, level="ctl", exclude_column="condition")


def test_yeast_wild_type_without_flagged_replicates():
    counts, metadata = real_data("yeast_snf2")
    adata = read_source(counts, metadata, "wt", exclude_column="flagged_bad_replicate")
    assert adata.n_obs == 42 and (adata.obs["condition"] == "wt").all()
    assert not adata.obs["flagged_bad_replicate"].any()
