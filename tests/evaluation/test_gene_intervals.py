"""Bootstrap-over-genes CIs of the comparison metrics, and sentences that claim "beats" only with them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genexai.evaluation import compare_methods, summary_sentences
from genexai.evaluation.gene_intervals import gene_intervals, paired_auprc_difference
from genexai.evaluation.metrics import ranking_metrics, spearman, topk_metrics

N = 400


@pytest.fixture(scope="module")
def genes():
    """20 hits among 400 genes; "weak" ranks them a little above the rest, "strong" far above."""
    rng = np.random.default_rng(0)
    index = [f"g{i:03d}" for i in range(N)]
    hit = pd.Series(np.arange(N) < 20, index=index)
    weak = pd.Series(rng.normal(0, 1, N) + 0.8 * hit, index=index)
    strong = pd.Series(rng.normal(0, 1, N) + 4.0 * hit, index=index)
    reference = pd.Series(rng.normal(0, 1, N) + 2.0 * hit, index=index)
    return hit, weak, strong, reference


def test_intervals_contain_the_estimates_and_are_seeded(genes):
    hit, weak, _, reference = genes
    out = gene_intervals(weak, hit, [10, 50], reference, {"ref": reference}, n_boot=200, seed=0)
    point = {
        "auprc": ranking_metrics(weak, hit)["auprc"],
        "auroc": ranking_metrics(weak, hit)["auroc"],
        "jaccard@50": topk_metrics(weak, reference, hit, 50)["jaccard"],
        "spearman_ref": spearman(weak, reference),
    }
    for name, value in point.items():
        assert out[f"{name}_ci_low"] < value < out[f"{name}_ci_high"], name
    assert out["jaccard@10_ci_low"] <= out["jaccard@10_ci_high"]
    assert out == gene_intervals(weak, hit, [10, 50], reference, {"ref": reference}, n_boot=200, seed=0)
    assert out != gene_intervals(weak, hit, [10, 50], reference, {"ref": reference}, n_boot=200, seed=1)
    # no reference ranking and no hit: NaN, not an error
    empty = gene_intervals(weak, hit & False, [10], None, {}, n_boot=20)
    assert np.isnan([empty["auprc_ci_low"], empty["jaccard@10_ci_high"]]).all()


def test_paired_difference_is_zero_for_one_ranking_and_excludes_zero_for_a_better_one(genes):
    hit, weak, strong, _ = genes
    same = paired_auprc_difference(weak, weak, hit, n_boot=100)
    assert same == {"auprc_diff": 0.0, "auprc_diff_ci_low": 0.0, "auprc_diff_ci_high": 0.0}
    better = paired_auprc_difference(strong, weak, hit, n_boot=200)
    assert better["auprc_diff"] == pytest.approx(ranking_metrics(strong, hit)["auprc"] - ranking_metrics(weak, hit)["auprc"])
    assert 0 < better["auprc_diff_ci_low"] < better["auprc_diff"] < better["auprc_diff_ci_high"]


def _truth_rows(method_auprc: float, low: float | None, high: float | None) -> pd.DataFrame:
    """A comparison table against the truth: one attribution method and the DESeq2 baseline (AUPRC 0.40)."""
    method = {"method": "ig", "reference": "truth", "n_genes_scored": 100, "n_hits": 10, "auprc": method_auprc,
              "chance_auprc": 0.1, "lift": method_auprc / 0.1, "auroc": 0.8}
    if low is not None:
        method.update({"auprc_minus_de": method_auprc - 0.40, "auprc_minus_de_ci_low": low,
                       "auprc_minus_de_ci_high": high, "ci_level": 0.95})
    baseline = {"method": "deseq2", "reference": "truth", "n_genes_scored": 100, "n_hits": 10, "auprc": 0.40,
                "chance_auprc": 0.1, "lift": 4.0, "auroc": 0.75}
    return pd.DataFrame([method, baseline])


def test_summary_says_beats_only_when_the_interval_excludes_zero():
    inside = summary_sentences(_truth_rows(0.45, -0.03, 0.13))["truth"]
    assert "beats" not in inside and "is not distinguishable from DESeq2's p-value ranking" in inside
    assert "-0.030 to +0.130" in inside and "95% CI" in inside
    above = summary_sentences(_truth_rows(0.45, 0.01, 0.09))["truth"]
    assert "beats DESeq2's p-value ranking" in above and "+0.010 to +0.090" in above
    below = summary_sentences(_truth_rows(0.30, -0.2, -0.01))["truth"]
    assert "falls short of" in below and "beats" not in below
    unknown = summary_sentences(_truth_rows(0.45, None, None))["truth"]  # no interval: no verdict
    assert "beats" not in unknown and "no verdict" in unknown


def test_compare_methods_adds_seeded_interval_columns(genes):
    hit, weak, strong, reference = genes
    importance = pd.concat([
        pd.DataFrame({"method": name, "gene": s.index, "importance": s.to_numpy(), "signed_diff": s.to_numpy()})
        for name, s in (("weak", weak), ("strong", strong))
    ])
    pvalue = 10 ** -(reference - reference.min())
    de = pd.DataFrame({"log2FoldChange": reference, "stat": reference, "pvalue": pvalue, "padj": np.minimum(pvalue * 20, 1)})
    table = compare_methods(importance, de, ks=(10,), truth=hit, truth_log2fc=hit * 1.0, n_bootstrap=50, seed=3)
    assert table.equals(compare_methods(importance, de, ks=(10,), truth=hit, truth_log2fc=hit * 1.0, n_bootstrap=50, seed=3))
    rows = table.set_index(["method", "reference"])
    for column in ("auprc", "auroc", "jaccard@10", "spearman_neglog10p"):
        row = rows.loc[("weak", "deseq2")]
        assert row[f"{column}_ci_low"] <= row[column] <= row[f"{column}_ci_high"], column
    assert rows.loc[("strong", "truth"), "auprc_minus_de_ci_low"] > 0  # strong ranks hits better than DESeq2's p
    assert np.isnan(rows.loc[("deseq2", "truth"), "auprc_minus_de"])
    bare = compare_methods(importance, de, ks=(10,), n_bootstrap=0)
    assert not [c for c in bare.columns if "_ci_" in c or c.startswith("auprc_minus")]
