"""compare_methods on synthetic tables with a known truth; the HTML report and its files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from genexai.errors import DataError
from genexai.evaluation import compare_methods, comparison_summary, write_report
from genexai.evaluation.metrics import expected_average_precision
from genexai.evaluation.plots import make_figures

N_GENES, N_SCORED, N_DE = 300, 250, 30


@pytest.fixture(scope="module")
def tables():
    """Truth, a DESeq2-like table, and importances: "good" tracks the truth, "random" does not.

    The model scored only the first 250 genes, so DE genes among the last 50 are
    "outside the model".
    """
    rng = np.random.default_rng(0)
    genes = [f"g{i:03d}" for i in range(N_GENES)]
    true_lfc = np.zeros(N_GENES)
    true_lfc[rng.choice(N_GENES, N_DE, replace=False)] = 2.0 * rng.choice([-1, 1], N_DE)
    is_de = true_lfc != 0
    pvalue = np.where(is_de, 10 ** -rng.uniform(3, 10, N_GENES), rng.uniform(0, 1, N_GENES))
    pvalue[5] = np.nan  # an untested gene
    padj = np.minimum(pvalue * N_GENES / 10, 1.0)
    lfc = true_lfc + rng.normal(0, 0.3, N_GENES)
    de = pd.DataFrame(
        {
            "baseMean": rng.uniform(10, 1000, N_GENES),
            "log2FoldChange": lfc,
            "lfcSE": 0.3,
            "stat": lfc / 0.3,
            "pvalue": pvalue,
            "padj": padj,
        },
        index=pd.Index(genes, name="gene"),
    )
    scored = genes[:N_SCORED]
    good = np.abs(true_lfc[:N_SCORED]) + rng.uniform(0, 1.5, N_SCORED)
    rand = rng.uniform(0, 1, N_SCORED)
    importance = pd.concat(
        [
            pd.DataFrame(
                {
                    "method": name,
                    "gene": scored,
                    "importance": values,
                    "rank": pd.Series(values).rank(ascending=False, method="first").astype(int),
                    "signed_diff": sign * values,
                }
            )
            for name, values, sign in [
                ("good", good, np.sign(true_lfc[:N_SCORED]) + (true_lfc[:N_SCORED] == 0)),
                ("random", rand, rng.choice([-1, 1], N_SCORED)),
            ]
        ],
        ignore_index=True,
    )
    truth = pd.Series(is_de, index=genes)
    truth_lfc = pd.Series(true_lfc, index=genes)
    return importance, de, truth, truth_lfc


def test_compare_methods_rows_and_metrics(tables):
    importance, de, truth, truth_lfc = tables
    table = compare_methods(importance, de, ks=(10, 50), truth=truth, truth_log2fc=truth_lfc)
    rows = table.set_index(["method", "reference"])
    assert set(rows.index) == {
        ("good", "deseq2"), ("random", "deseq2"), ("good", "truth"), ("random", "truth"), ("deseq2", "truth"),
    }
    core = ["auprc", "chance_auprc", "lift", "auroc", "precision@10", "recall@50", "jaccard@50",
            "overlap_pvalue@10", "chance_jaccard@50", "sign_agreement"]
    assert np.isfinite(rows[core].to_numpy(dtype=float)).all()
    assert (rows["n_genes_scored"] == N_SCORED).all()
    # Chance AUPRC is a random ranking's expected AP over the scored genes (above their hit
    # prevalence); hits outside are counted.
    for _, row in rows.iterrows():
        assert row["prevalence"] == pytest.approx(row["n_hits"] / row["n_genes_scored"])
        assert row["chance_auprc"] == pytest.approx(expected_average_precision(row["n_genes_scored"], row["n_hits"]))
        assert row["chance_auprc"] > row["prevalence"]
    assert rows.loc[("good", "truth"), "n_hits_outside_model"] == int(truth.iloc[N_SCORED:].sum())
    for reference in ("deseq2", "truth"):
        assert rows.loc[("good", reference), "auprc"] > rows.loc[("random", reference), "auprc"]
        assert rows.loc[("good", reference), "lift"] > 3
        assert rows.loc[("random", reference), "auroc"] == pytest.approx(0.5, abs=0.15)
    assert rows.loc[("good", "truth"), "sign_agreement"] == 1.0
    # Jaccard@50 vs the truth compares with the planted genes only (fewer than 50 are scored),
    # never with null genes padded in the scored method's order.
    planted_scored = int(truth.iloc[:N_SCORED].sum())
    assert planted_scored < 50
    assert rows.loc[("good", "truth"), "jaccard@50"] <= planted_scored / 50
    assert rows.loc[("deseq2", "truth"), "auprc"] > 0.9
    assert np.isfinite(rows.loc[("good", "deseq2"), ["spearman_abs_stat", "spearman_neglog10p"]]).all()


def test_compare_without_truth_and_bad_input(tables):
    importance, de, _, _ = tables
    table = compare_methods(importance, de)
    assert set(table["reference"]) == {"deseq2"} and set(table["method"]) == {"good", "random"}
    with pytest.raises(DataError, match="signed_diff"):
        compare_methods(importance.drop(columns="signed_diff"), de)


def test_summary_names_the_closest_method(tables):
    importance, de, truth, truth_lfc = tables
    summary = comparison_summary(compare_methods(importance, de, truth=truth, truth_log2fc=truth_lfc))
    json.dumps(summary, allow_nan=False)  # strictly JSON: NaN became null
    assert summary["best"]["deseq2"]["method"] == "good"
    assert "good" in summary["sentences"]["deseq2"]
    assert "DESeq2's p-value ranking" in summary["sentences"]["truth"]


def test_write_report_is_self_contained(tables, tmp_path):
    importance, de, truth, truth_lfc = tables
    comparison = compare_methods(importance, de, truth=truth, truth_log2fc=truth_lfc)
    figures = make_figures(tmp_path / "figures", importance, de, is_hit=truth, k=20)
    assert all(path.stat().st_size > 1000 and path.suffix == ".png" for path in figures.values())
    report = write_report(
        tmp_path,
        dataset="synthetic",
        model="mlp",
        classification_metrics={"test/acc": 0.93, "test/auroc": 0.97},
        comparison=comparison,
        de=de,
        importance=importance,
        figures=figures,
        extra={"contrast": ["condition", "B", "A"]},
    )
    text = report.read_text(encoding="utf-8")
    assert report == tmp_path / "report.html" and text.rstrip().endswith("</html>")
    assert text.count("data:image/png;base64,") == len(figures) == 4
    assert "chance_auprc" in text and "Top 20 genes per method" in text and "test/acc" in text
    assert "src=\"http" not in text  # nothing fetched from the network
    saved = json.loads((tmp_path / "comparison.json").read_text())
    assert saved["dataset"] == "synthetic" and len(saved["rows"]) == len(comparison)
    assert pd.read_csv(tmp_path / "comparison.csv").shape == comparison.shape
    assert not list(tmp_path.glob(".*"))  # no temporary files left by the atomic writes


def test_report_shows_intervals_and_warns_about_a_small_test_set(tables, tmp_path):
    importance, de, truth, truth_lfc = tables
    comparison = compare_methods(importance, de, truth=truth, truth_log2fc=truth_lfc, n_bootstrap=50)
    small = {"test/acc": 0.917, "test/auroc": 0.972, "test/acc_ci_low": 0.75, "test/acc_ci_high": 1.0,
             "test/auroc_ci_low": 0.861, "test/auroc_ci_high": 1.0, "test/n_samples": 12, "test/ci_level": 0.95}
    common = dict(dataset="synthetic", model="mlp", comparison=comparison, de=de, importance=importance, figures={})
    text = write_report(tmp_path / "small", classification_metrics=small, **common).read_text(encoding="utf-8")
    assert "0.861 to 1" in text and "95% CI" in text  # the test AUROC with its interval
    assert "test set has 12 samples (&lt; 20)" in text and "unreliable" in text
    assert "auprc CI" in text and "auprc_minus_de CI" in text  # the comparison metrics' intervals
    large = {**small, "test/n_samples": 40}
    text = write_report(tmp_path / "large", classification_metrics=large, **common).read_text(encoding="utf-8")
    assert "unreliable" not in text
