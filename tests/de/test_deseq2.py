"""The PyDESeq2 wrapper: identical numbers, correct direction, covariates, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydeseq2.dds import DeseqDataSet
from pydeseq2.default_inference import DefaultInference
from pydeseq2.ds import DeseqStats
from threadpoolctl import threadpool_limits

from genexai.de import RESULT_COLUMNS, resolve_contrast, run_deseq2
from genexai.errors import ConfigError, DataError
from genexai.evaluation.metrics import neg_log10_pvalue, ranking_metrics
from tests.conftest import real_data

# Dexamethasone-induced genes (DESeq2 airway vignette): FKBP5, TSC22D3, DUSP1, ZBTB16,
# KLF15, PER1, MAOA — up in treated airway smooth-muscle cells.
DEX_UP = [
    "ENSG00000096060", "ENSG00000157514", "ENSG00000120129", "ENSG00000109906",
    "ENSG00000163884", "ENSG00000179094", "ENSG00000189221",
]


def direct_pydeseq2(counts: pd.DataFrame, metadata: pd.DataFrame, design: str, contrast: list[str]):
    """PyDESeq2 called as its documentation shows, for comparison with the wrapper.

    Single-threaded BLAS as in the wrapper: it changes the speed, not the numbers.
    """
    inference = DefaultInference(n_cpus=1)
    with threadpool_limits(limits=1, user_api="blas"):
        dds = DeseqDataSet(counts=counts, metadata=metadata, design=design, inference=inference, quiet=True)
        dds.deseq2()
        stats = DeseqStats(dds, contrast=contrast, inference=inference, quiet=True)
        stats.summary()
    return stats.results_df


def assert_identical(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert list(ours.columns) == list(RESULT_COLUMNS)
    assert ours.index.equals(theirs.index)
    for column in RESULT_COLUMNS:
        assert np.array_equal(ours[column].to_numpy(), theirs[column].to_numpy(), equal_nan=True), column


def load_subset(name: str, n_per_group: int, n_genes: int, extra_genes: list[str] = ()):
    counts_path, metadata_path = real_data(name)
    counts = pd.read_csv(counts_path, index_col="sample")
    metadata = pd.read_csv(metadata_path, index_col="sample")
    samples = metadata.groupby("condition").head(n_per_group).index
    counts = counts.loc[samples]
    top = counts.sum().sort_values(ascending=False).index[:n_genes]
    genes = top.append(pd.Index([g for g in extra_genes if g not in top]))
    return counts[genes], metadata.loc[samples]


def test_identical_to_pydeseq2_on_real_subset():
    counts, metadata = load_subset("tcga_brca_paired", n_per_group=10, n_genes=1000)
    ours = run_deseq2(counts, metadata, ref_level="normal", pipeline="pydeseq2")
    assert_identical(ours, direct_pydeseq2(counts, metadata, "~condition", ["condition", "tumor", "normal"]))


@pytest.fixture(scope="module")
def nb_results(nb_data):
    counts, metadata, _ = nb_data
    return run_deseq2(counts, metadata)


def test_recovers_planted_effects_in_the_right_direction(nb_data, nb_results):
    _, _, truth = nb_data
    metrics = ranking_metrics(neg_log10_pvalue(nb_results["pvalue"]), truth["is_de"])
    assert metrics["auprc"] >= 5 * metrics["chance_auprc"]
    # Default contrast is [condition, B, A]: log2FC > 0 means up in B, as planted.
    de = truth["is_de"]
    agree = np.sign(nb_results.loc[de, "log2FoldChange"]) == np.sign(truth.loc[de, "true_log2fc"])
    assert agree.mean() >= 0.95


@pytest.fixture(scope="module")
def tiny_results(tiny_nb):
    counts, metadata, _ = tiny_nb
    return run_deseq2(counts, metadata)


#: PyDESeq2's own agreement rule with R DESeq2 (its tests: relative error < 0.02).
PYDESEQ2_RTOL = 0.02


def test_ref_level_flips_the_direction(tiny_nb, tiny_results):
    """Swapping the reference level negates log2FC and stat and keeps p, within PyDESeq2's reproducibility.

    The two fits are not bit-identical: the design matrix changes (intercept = the other group),
    so IRLS stops at a slightly different point inside its convergence tolerance, and a log2FC
    near 0 can differ in its 5th digit between BLAS builds (−0.00274 vs −0.00273 seen on a fresh
    install). A relative tolerance means nothing at |log2FC| ≈ 0, so the absolute floor comes from
    the fitted standard error: shifting log2FC by δ moves the Wald statistic by δ / lfcSE, and near
    stat = 0 the two-sided p-value 2Φ(−|z|) ≈ 1 − 0.8|z| then moves by 0.8 δ / lfcSE. Holding that to
    PyDESeq2's 2% gives δ ≤ 0.025 lfcSE; the test allows 0.02 lfcSE. A reference swap that did not
    flip the sign would miss by 2|log2FC|, far outside this on all but the genes with log2FC ≈ 0.
    """
    counts, metadata, _ = tiny_nb
    flipped = run_deseq2(counts, metadata, ref_level="B")
    lfc, se = tiny_results["log2FoldChange"], tiny_results["lfcSE"]
    tolerance = PYDESEQ2_RTOL * (lfc.abs() + se)
    assert ((flipped["log2FoldChange"] + lfc).abs() <= tolerance).all()
    assert ((flipped["stat"] + tiny_results["stat"]).abs() <= PYDESEQ2_RTOL * (tiny_results["stat"].abs() + 1)).all()
    np.testing.assert_allclose(flipped["pvalue"], tiny_results["pvalue"], rtol=PYDESEQ2_RTOL)
    np.testing.assert_allclose(flipped["lfcSE"], se, rtol=PYDESEQ2_RTOL)
    clear = lfc.abs() > 2 * se
    assert clear.sum() >= 5 and (np.sign(flipped.loc[clear, "log2FoldChange"]) == -np.sign(lfc[clear])).all()


def test_numeric_covariate_is_categorical_and_matches_pydeseq2(tiny_nb):
    counts, metadata, _ = tiny_nb
    ours = run_deseq2(counts, metadata, design="~batch + condition", pipeline="pydeseq2")
    as_text = metadata.assign(batch=metadata["batch"].astype(str))
    assert_identical(ours, direct_pydeseq2(counts, as_text, "~batch + condition", ["condition", "B", "A"]))


def test_lfc_shrink_keeps_pvalues_and_shrinks_fold_changes(tiny_nb, tiny_results):
    counts, metadata, _ = tiny_nb
    plain = tiny_results
    shrunk = run_deseq2(counts, metadata, lfc_shrink=True)
    np.testing.assert_array_equal(shrunk["pvalue"], plain["pvalue"])
    assert (shrunk["log2FoldChange"].abs() <= plain["log2FoldChange"].abs() + 1e-6).mean() > 0.9


def test_covariate_design_on_airway_finds_dexamethasone_genes():
    counts, metadata = load_subset("airway", n_per_group=4, n_genes=300, extra_genes=DEX_UP)
    results = run_deseq2(counts, metadata, design="~cell_line + condition", ref_level="untreated")
    known = results.loc[DEX_UP]
    assert (known["log2FoldChange"] > 1).all() and (known["padj"] < 0.05).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"design": "~donor + condition"}, ConfigError, "not metadata columns"),
        ({"design": "~condition +"}, ConfigError, "not a valid formula"),
        ({"ref_level": "control"}, ConfigError, "does not occur"),
        ({"contrast": ["condition", "B", "C"]}, ConfigError, "does not occur"),
        ({"contrast": ["condition", "B", "A"], "ref_level": "B"}, ConfigError, "contradicts"),
        ({"contrast": ["batch", "2", "1"]}, ConfigError, "not in the design"),
        ({"design": "~constant + condition"}, DataError, "single value"),
        ({"design": "~copy + condition"}, ConfigError, "confounded"),
        # formulaic would run this term as Python (a design from a stranger's run config must not run code)
        ({"design": "~{condition.__class__.__init__.__globals__} + condition"}, ConfigError, "Python expression"),
        ({"design": "~np.log(batch) + condition"}, ConfigError, "Python expression"),
    ],
)
def test_clear_errors(tiny_nb, kwargs, error, message):
    counts, metadata, _ = tiny_nb
    metadata = metadata.assign(constant="x", copy=metadata["condition"].map({"A": "u", "B": "v"}))
    with pytest.raises(error, match=message):
        run_deseq2(counts, metadata, **kwargs)


def test_data_errors(tiny_nb):
    counts, metadata, _ = tiny_nb
    with pytest.raises(DataError, match="no metadata row"):
        run_deseq2(counts, metadata.iloc[1:])
    with pytest.raises(DataError, match="non-negative integers"):
        run_deseq2(counts / 2.5, metadata)
    with pytest.raises(DataError, match="missing values"):
        run_deseq2(counts, metadata.assign(condition=metadata["condition"].where(metadata.index != "s00")))


def test_more_than_two_levels_needs_an_explicit_contrast(tiny_nb):
    _, metadata, _ = tiny_nb
    three = metadata.assign(condition=["A", "B", "C", "B"] * (len(metadata) // 4))
    with pytest.raises(ConfigError, match="set the contrast explicitly"):
        resolve_contrast(three, "~condition")
    assert resolve_contrast(three, "~condition", ["condition", "C", "A"]) == ["condition", "C", "A"]
    assert resolve_contrast(metadata, "~batch + condition") == ["condition", "B", "A"]
