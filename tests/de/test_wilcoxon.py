"""The Wilcoxon rank-sum baseline: DESeq2's table layout, scipy's statistics, size-factor invariance, FDR."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from genexai.de import RESULT_COLUMNS, de_ranking, run_de, run_wilcoxon, select_de_genes
from genexai.errors import ConfigError, DataError
from genexai.evaluation.metrics import realised_fdr_power


def test_table_layout_matches_deseq2(nb_data):
    counts, metadata, _ = nb_data
    table = run_wilcoxon(counts, metadata)
    assert list(table.columns) == list(RESULT_COLUMNS)
    assert table.index.name == "gene" and table.index.equals(counts.columns)
    assert table["lfcSE"].isna().all()
    assert table[["baseMean", "log2FoldChange", "stat", "pvalue", "padj"]].notna().all().all()


def median_of_ratios_by_hand(x: np.ndarray) -> np.ndarray:
    """Size factors as METHODS.md defines them, written independently of ``genexai.data.preprocess``."""
    positive = (x > 0).all(axis=0)
    log_x = np.log(x[:, positive])
    return np.exp(np.median(log_x - log_x.mean(axis=0), axis=1))


def bh_by_definition(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values from their definition: q_i = min over p_j >= p_i of m p_j / rank_j."""
    m = len(p)
    rank = np.array([(p <= value).sum() for value in p])  # rank of p_j among all p (ties share the top rank)
    return np.array([min(1.0, (m * p[p >= value] / rank[p >= value]).min()) for value in p])


def test_statistics_match_an_independent_per_gene_computation(nb_data):
    """Every column re-derived without the code under test: hand size factors, scipy per gene, BH by definition."""
    counts, metadata, _ = nb_data
    table = run_wilcoxon(counts, metadata, pseudocount=1.0)
    norm = counts / median_of_ratios_by_hand(counts.to_numpy(float))[:, None]
    group = metadata.loc[counts.index, "condition"]
    b, a = norm[group == "B"], norm[group == "A"]
    p = np.array([mannwhitneyu(b[gene], a[gene], alternative="two-sided").pvalue for gene in counts.columns])
    # Two samples whose normalised counts are equal up to float rounding (x_i/s_i = x_k/s_k) tie or not
    # depending on the last bit of the size factors, which changes the tie correction: only such genes may differ.
    sorted_norm = np.sort(norm.to_numpy(), axis=0)
    near_tie = (np.isclose(sorted_norm[1:], sorted_norm[:-1], rtol=1e-9, atol=0) & (sorted_norm[1:] > 0)).any(axis=0)
    mismatch = ~np.isclose(table["pvalue"].to_numpy(), p, rtol=1e-12, atol=0)
    assert not (mismatch & ~near_tie).any() and mismatch.sum() <= 2, np.flatnonzero(mismatch)
    np.testing.assert_allclose(table["pvalue"].to_numpy(), p, atol=0.01)
    np.testing.assert_allclose(table["padj"].to_numpy(), bh_by_definition(table["pvalue"].to_numpy()), rtol=1e-12)
    means = norm.groupby(group).mean()
    np.testing.assert_allclose(table["log2FoldChange"], np.log2((means.loc["B"] + 1.0) / (means.loc["A"] + 1.0)), rtol=1e-12)
    np.testing.assert_allclose(table["baseMean"], norm.mean(axis=0), rtol=1e-12)
    # stat: signed normal score, same sign as the fold change for clear hits, |stat| monotone in p
    hits = table["padj"] < 1e-3
    assert hits.sum() >= 10 and (np.sign(table.loc[hits, "stat"]) == np.sign(table.loc[hits, "log2FoldChange"])).all()
    order = table["pvalue"].argsort()
    assert (np.diff(table["stat"].abs().to_numpy()[order]) <= 1e-9).all()


def test_bh_by_definition_on_hand_values():
    """The test's own BH reference, on the textbook example: sorted p 0.01, 0.03, 0.04, 0.5 (m = 4)."""
    np.testing.assert_allclose(bh_by_definition(np.array([0.01, 0.04, 0.03, 0.5])), [0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_sequencing_depth_does_not_change_the_result(nb_data):
    """Doubling one sample's library changes size factors by one common scale only: the ranks, hence the test, are unchanged."""
    counts, metadata, _ = nb_data
    deeper = counts.copy()
    deeper.iloc[0] *= 2
    before, after = run_wilcoxon(counts, metadata), run_wilcoxon(deeper, metadata)
    # Exact ties (x_i/s_i = x_k/s_k) may be split by float rounding after rescaling: a few genes move slightly.
    same = np.isclose(before["pvalue"], after["pvalue"], rtol=1e-10)
    assert same.mean() > 0.98
    np.testing.assert_allclose(before["pvalue"], after["pvalue"], atol=0.05)
    ratio = after["baseMean"] / before["baseMean"]
    np.testing.assert_allclose(ratio, ratio.iloc[0], rtol=1e-10)


def test_controls_fdr_and_finds_planted_genes(nb_data):
    counts, metadata, truth = nb_data
    result = realised_fdr_power(run_wilcoxon(counts, metadata), truth["is_de"], alpha=0.05)
    assert result["realised_fdr"] <= 0.1 and result["power"] >= 0.8, result


def test_reference_level_flips_the_sign(tiny_nb):
    counts, metadata, _ = tiny_nb
    ab, ba = run_wilcoxon(counts, metadata, ref_level="A"), run_wilcoxon(counts, metadata, ref_level="B")
    np.testing.assert_allclose(ab["log2FoldChange"], -ba["log2FoldChange"])
    np.testing.assert_allclose(ab["stat"], -ba["stat"])
    np.testing.assert_allclose(ab["pvalue"], ba["pvalue"])


def test_dispatch_and_errors(tiny_nb):
    counts, metadata, _ = tiny_nb
    table, hit = run_de("wilcoxon", counts, metadata, ref_level="A")
    assert hit is False and list(table.columns) == list(RESULT_COLUMNS)
    with pytest.raises(ConfigError, match="unknown DE method"):
        run_de("sleuth", counts, metadata)
    with pytest.raises(ConfigError, match="pseudocount"):
        run_wilcoxon(counts, metadata, pseudocount=0)
    with pytest.raises(DataError, match="raw read counts"):
        run_wilcoxon(counts * 0.5, metadata)


def test_selection_top_and_threshold():
    de = pd.DataFrame(
        {"log2FoldChange": [2.0, -0.2, 1.5, 0.1, 3.0], "pvalue": [1e-6, 1e-3, 1e-5, 0.5, np.nan],
         "padj": [1e-4, 1e-2, 1e-4, 0.6, np.nan]},
        index=["a", "b", "c", "d", "e"],
    )
    assert list(de_ranking(de)) == ["a", "c", "b", "d", "e"]  # padj tie (a, c) broken by p-value; NaN last
    assert select_de_genes(de, n_genes=2) == ["a", "c"]
    assert select_de_genes(de, n_genes=10) == ["a", "c", "b", "d", "e"]
    assert select_de_genes(de, n_genes="all", mode="threshold", alpha=0.05) == ["a", "c", "b"]
    assert select_de_genes(de, n_genes=1, mode="threshold", alpha=0.05, lfc_threshold=1.0) == ["a", "c"]
    with pytest.raises(ConfigError, match="mode=threshold"):
        select_de_genes(de, n_genes="all")
    with pytest.raises(DataError, match="no gene has padj"):
        select_de_genes(de, n_genes=5, mode="threshold", alpha=1e-9)
    with pytest.raises(ConfigError, match="de_selection.mode"):
        select_de_genes(de, n_genes=5, mode="best")
