"""Group-aware splits (data.groups): no group spans two splits or folds; paired designs run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genexai.data.grouped import grouped_split
from genexai.data.split import cv_splits, stratified_split
from genexai.errors import DataError
from tests.conftest import real_data


def paired(n_pairs: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Tumour-normal pairs: each patient has one sample of each class."""
    return np.tile(["normal", "tumor"], n_pairs), np.repeat([f"P{i:02d}" for i in range(n_pairs)], 2)


def groups_of(groups: np.ndarray, split: dict[str, np.ndarray]) -> dict[str, set]:
    return {name: set(groups[index]) for name, index in split.items()}


@pytest.mark.parametrize("seed", range(5))
def test_no_group_spans_train_val_and_test(seed: int) -> None:
    labels, groups = paired()
    split = grouped_split(labels, groups, seed=seed)
    sets = groups_of(groups, split)
    assert not sets["train"] & sets["test"] and not sets["train"] & sets["val"] and not sets["val"] & sets["test"]
    assert sorted(np.concatenate(list(split.values()))) == list(range(len(labels)))
    assert all(set(labels[index]) == {"normal", "tumor"} for index in split.values())
    # the per-sample split would have separated pairs: the test is not vacuous
    plain = groups_of(groups, stratified_split(labels, seed=seed))
    assert plain["train"] & plain["test"]


def test_grouped_cv_folds_hold_whole_groups_and_cover_every_sample() -> None:
    labels, groups = paired(20)
    folds = cv_splits(labels, 5, repeats=2, groups=groups, seed=3)
    assert len(folds) == 10
    for repeat in range(2):
        tested = np.concatenate([split["test"] for _, split in folds[5 * repeat : 5 * repeat + 5]])
        assert sorted(tested) == list(range(len(labels)))
    for _, split in folds:
        sets = groups_of(groups, split)
        assert not sets["train"] & sets["test"] and not sets["val"] & (sets["train"] | sets["test"])
    assert [s["test"].tolist() for _, s in folds[:5]] != [s["test"].tolist() for _, s in folds[5:]]


def test_too_few_groups_is_a_one_line_data_error() -> None:
    labels = np.tile(["normal", "tumor"], 9)  # 9 samples per class, but only 3 donors
    groups = np.repeat(["D0", "D1", "D2"], 6)
    with pytest.raises(DataError, match="data.groups: 3 groups cannot fill the 5 parts"):
        cv_splits(labels, 5, groups=groups)


def test_tcga_pairs_stay_together_and_the_blocked_design_runs(tmp_path) -> None:
    from genexai.de.dispatch import build_de_method
    from genexai.pipeline.build import build_datamodule
    from tests.conftest import compose_config

    real_data("tcga_brca_paired")
    cfg = compose_config(
        "train", ["data=tcga_brca_paired", "data.groups=patient", "data.n_genes=200", "logger=none",
                  'data.design="~patient + condition"'], tmp_path,
    )  # fmt: skip
    datamodule = build_datamodule(cfg)
    patients = datamodule.adata.obs["patient"].astype(str).to_numpy()
    sets = groups_of(patients, datamodule.split_index)
    assert not sets["train"] & (sets["val"] | sets["test"]) and not sets["val"] & sets["test"]
    table = datamodule.split_table()
    assert list(table.columns) == ["sample", "condition", "patient", "split"]
    assert (table.groupby("patient")["split"].nunique() == 1).all()

    train = datamodule.raw_counts("train")
    counts = pd.DataFrame(train.X, index=train.obs_names, columns=train.var_names)
    expressed = counts.loc[:, counts.sum() > 1000].iloc[:, :1500]  # a slice: the design, not the genome, is tested
    blocked, _ = build_de_method({"name": "deseq2", "inference": "torch"}).test(
        expressed, train.obs, design=datamodule.design, ref_level="normal"
    )
    plain, _ = build_de_method({"name": "deseq2", "inference": "torch"}).test(
        expressed, train.obs, design="~condition", ref_level="normal"
    )
    assert blocked["pvalue"].notna().mean() > 0.9
    # blocking on the patient changes the test (paired), it is not a silent no-op
    assert not np.allclose(blocked["stat"], plain["stat"], equal_nan=True)


def test_unknown_group_column_is_one_line_naming_the_columns(tmp_path, capsys, monkeypatch) -> None:
    from tests.test_bad_input import one_error_line, run_script

    code, stderr = run_script("train", ["data.groups=donor", "logger=none", f"hydra.run.dir={tmp_path}"], capsys, monkeypatch)
    line = one_error_line(stderr)
    assert code == 2 and "data.groups='donor' is not a metadata column" in line and "condition" in line


def test_grouped_cv_on_tcga_runs_and_records_the_groups(train_cfg) -> None:
    from pathlib import Path

    from genexai.pipeline.train import train

    real_data("tcga_brca_paired")
    cfg = train_cfg(["data=tcga_brca_paired", "data.groups=patient", "data.cv.folds=5", "data.n_genes=100",
                     "attribution=none", "trainer.max_epochs=1"])  # fmt: skip
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    folds = pd.read_csv(run_dir / "splits.csv")
    assert list(folds.columns) == ["sample", "condition", "patient", "repeat", "fold"]
    assert (folds.groupby("patient")["fold"].nunique() == 1).all()
    assert sorted(folds["fold"].unique()) == list(range(5))
    for k in range(5):
        inner = pd.read_csv(run_dir / f"fold_0_{k}" / "splits.csv")
        assert (inner.groupby("patient")["split"].nunique() == 1).all()
