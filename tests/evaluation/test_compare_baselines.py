"""The comparison names its DE baseline, reports realised FDR/power on a truth, and handles DE-selected genes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genexai.evaluation import compare_methods, comparison_summary
from genexai.evaluation.metrics import realised_fdr_power
from tests.evaluation.test_compare_report import tables  # noqa: F401  (module-scoped fixture)


def test_realised_fdr_and_power():
    de = pd.DataFrame({"log2FoldChange": [1.0, -2.0, 0.5, 0.1, 3.0], "padj": [0.01, 0.02, 0.03, 0.5, np.nan]},
                      index=list("abcde"))
    truth = pd.Series([True, True, False, False, True], index=list("abcde"))
    result = realised_fdr_power(de, truth, alpha=0.05)
    assert result == {"n_calls": 3, "n_true_calls": 2, "n_true_de": 3, "realised_fdr": pytest.approx(1 / 3),
                      "power": pytest.approx(2 / 3), "nominal_fdr": 0.05}
    assert realised_fdr_power(de, truth, alpha=1e-9)["realised_fdr"] == 0.0  # no call, no false discovery
    assert realised_fdr_power(de, truth, alpha=0.05, lfc_threshold=0.8)["n_calls"] == 2


def test_reference_is_named_after_the_baseline(tables):  # noqa: F811
    importance, de, truth, truth_lfc = tables
    table = compare_methods(importance, de, truth=truth, truth_log2fc=truth_lfc, de_name="wilcoxon")
    assert set(table["reference"]) == {"wilcoxon", "truth"}
    baseline = table[(table["method"] == "wilcoxon") & (table["reference"] == "truth")].iloc[0]
    expected = realised_fdr_power(de, truth, alpha=0.05)
    assert baseline["n_calls"] == expected["n_calls"] and baseline["realised_fdr"] == pytest.approx(expected["realised_fdr"])
    assert baseline["power"] == pytest.approx(expected["power"]) and baseline["nominal_fdr"] == 0.05
    assert table.loc[table["method"] != "wilcoxon", "realised_fdr"].isna().all()  # only the baseline's row
    sentences = comparison_summary(table)["sentences"]
    assert "Wilcoxon rank-sum hits" in sentences["wilcoxon"]
    assert "Wilcoxon rank-sum's p-value ranking" in sentences["truth"] and "realised FDR" in sentences["truth"]


def test_de_selected_genes_are_all_hits_and_still_ranked(tables):  # noqa: F811
    """Model genes = DE hits (gene_selection=deseq2): AUPRC undefined, Spearman/Jaccard inside the set defined."""
    importance, de, _, _ = tables
    hits = de.index[(de["padj"] < 0.05).to_numpy()]
    inside = importance[importance["gene"].isin(hits)]
    table = compare_methods(inside, de, ks=(10,))
    assert table["auprc"].isna().all() and (table["n_hits"] == table["n_genes_scored"]).all()
    assert table[["spearman_neglog10p", "spearman_abs_stat", "jaccard@10"]].notna().all().all()
    assert "Every gene the model scored" in comparison_summary(table)["sentences"]["deseq2"]
