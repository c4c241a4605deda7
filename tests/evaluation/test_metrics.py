"""Agreement metrics on small hand-computed cases, with their chance levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genexai.evaluation.metrics import (
    de_hits,
    expected_average_precision,
    expected_jaccard,
    jaccard_stability,
    neg_log10_pvalue,
    overlap_pvalue,
    ranking_metrics,
    sign_agreement,
    spearman,
    topk_metrics,
)

GENES = [f"g{i}" for i in range(1, 7)]


def series(values: list) -> pd.Series:
    return pd.Series(values, index=GENES[: len(values)])


def test_de_hits_threshold_and_nan():
    de = pd.DataFrame({"padj": [0.01, 0.2, np.nan, 0.04], "log2FoldChange": [1.0, 3.0, 5.0, -0.5]}, index=GENES[:4])
    assert de_hits(de, 0.05).tolist() == [True, False, False, True]
    assert de_hits(de, 0.05, lfc_threshold=1.0).tolist() == [True, False, False, False]


def test_neg_log10_pvalue_clips_zero_and_keeps_nan():
    out = neg_log10_pvalue(pd.Series([1e-3, 0.0, np.nan]))
    assert out[0] == pytest.approx(3.0) and np.isfinite(out[1]) and out[1] > 300 and np.isnan(out[2])


def test_ranking_metrics_hand_computed():
    # Ranking g1 > g2 > g3 > g4, hits g1 and g3: AP = (1/1 + 2/3) / 2; AUROC = 3 of 4 pairs.
    m = ranking_metrics(series([4, 3, 2, 1]), series([True, False, True, False]))
    assert m["auprc"] == pytest.approx(5 / 6)
    assert m["auroc"] == pytest.approx(0.75)
    assert m["prevalence"] == 0.5 and m["chance_auroc"] == 0.5
    assert m["chance_auprc"] == pytest.approx(expected_average_precision(4, 2))
    assert m["lift"] == pytest.approx((5 / 6) / m["chance_auprc"])
    assert (m["n_genes"], m["n_hits"]) == (4, 2)


def test_ranking_metrics_undefined_and_nan_scores():
    assert np.isnan(ranking_metrics(series([3, 2, 1]), series([False] * 3))["auroc"])
    # A NaN score ranks lowest: the only hit is last.
    m = ranking_metrics(series([np.nan, 1, 2]), series([True, False, False]))
    assert m["auroc"] == 0.0


def test_topk_metrics_hand_computed():
    scores = series([6, 5, 4, 3, 2, 1])                       # top-2: g1, g2
    reference = series([9, 0, 0, 0, 8, 0])                    # top-2: g1, g5
    hits = series([True, False, True, False, False, True])    # 3 of 6
    m = topk_metrics(scores, reference, hits, k=2)
    assert (m["k"], m["overlap"]) == (2, 1)
    assert m["precision"] == 0.5 and m["recall"] == pytest.approx(1 / 3)
    assert m["jaccard"] == pytest.approx(1 / 3)               # {g1} / {g1, g2, g5}
    assert m["overlap_pvalue"] == pytest.approx(1 - 3 / 15)   # 1 - C(3,2)/C(6,2)
    assert m["chance_precision"] == 0.5 and m["chance_recall"] == pytest.approx(2 / 6)
    assert m["expected_overlap"] == pytest.approx(1.0)
    assert m["chance_jaccard"] == pytest.approx(11 / 45)      # overlap 1 w.p. 8/15, 2 w.p. 1/15


def test_expected_average_precision_is_the_mean_over_all_rankings():
    # Every placement of 2 hits among 6 ranks is equally likely under a random ranking.
    from itertools import combinations

    aps = []
    for ranks in combinations(range(1, 7), 2):
        aps.append(np.mean([(i + 1) / r for i, r in enumerate(ranks)]))
    assert expected_average_precision(6, 2) == pytest.approx(np.mean(aps))
    # The case: 5 hits among 1000 genes score 0.0115 by chance, not the prevalence 0.005.
    assert expected_average_precision(1000, 5) == pytest.approx(0.0115, abs=5e-5)
    assert expected_average_precision(10, 10) == 1.0 and np.isnan(expected_average_precision(10, 0))


def test_expected_average_precision_matches_random_rankings():
    rng = np.random.default_rng(0)
    y = pd.Series([True] * 3 + [False] * 47, index=[f"g{i}" for i in range(50)])
    aucs = [ranking_metrics(pd.Series(rng.random(50), index=y.index), y)["auprc"] for _ in range(4000)]
    assert np.mean(aucs) == pytest.approx(expected_average_precision(50, 3), abs=0.005)
    assert expected_average_precision(50, 3) > 3 / 50 + 0.02


def test_jaccard_reference_ties_do_not_follow_the_scored_method():
    # 5 planted genes among 100; the method ranks them first, then 45 null genes in its own order.
    genes = [f"g{i:03d}" for i in range(100)]
    rng = np.random.default_rng(1)
    order = list(rng.permutation(genes))
    scores = pd.Series(np.arange(100, 0, -1.0), index=order)
    planted = order[:5]
    abs_lfc = pd.Series(np.nan, index=genes)
    abs_lfc[planted] = [2.0, 1.8, 1.5, 1.2, 1.0]
    hits = pd.Series(False, index=genes)
    hits[planted] = True
    m = topk_metrics(scores, abs_lfc, hits, k=50)
    # The reference top-50 is the 5 planted genes only: Jaccard = 5 / 50, not 1.
    assert m["jaccard"] == pytest.approx(5 / 50)
    assert m["chance_jaccard"] == pytest.approx(expected_jaccard(100, 50, 5))
    # Zero-filled ties (|log2FC| = 0 for every null gene) are broken by gene ID, not by the
    # scored table's order: two methods with the same top 50 in different orders score alike.
    zeros = abs_lfc.fillna(0.0)
    reordered = scores.iloc[rng.permutation(100)]
    assert topk_metrics(scores, zeros, hits, k=50)["jaccard"] == topk_metrics(reordered, zeros, hits, k=50)["jaccard"]
    assert topk_metrics(scores, zeros, hits, k=50)["jaccard"] < 0.5


def test_topk_clips_k_and_handles_missing_reference():
    m = topk_metrics(series([3, 2, 1]), None, series([True, False, False]), k=10)
    assert m["k"] == 3 and m["recall"] == 1.0 and np.isnan(m["jaccard"])


def test_overlap_pvalue_hypergeometric_tail():
    assert overlap_pvalue(3, population=10, successes=4, draws=3) == pytest.approx(4 / 120)
    assert overlap_pvalue(0, population=10, successes=4, draws=3) == pytest.approx(1.0)


def test_expected_jaccard_matches_simulation():
    rng = np.random.default_rng(0)
    draws = [len(set(rng.choice(50, 10, replace=False)) & set(rng.choice(50, 10, replace=False))) for _ in range(4000)]
    simulated = np.mean([o / (20 - o) for o in draws])
    assert expected_jaccard(50, 10, 10) == pytest.approx(simulated, abs=0.01)


def test_spearman_aligns_on_genes():
    x = series([1, 2, 3, 4])
    assert spearman(x, x.iloc[::-1] * 10) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert np.isnan(spearman(x, series([1, 1, 1, 1])))


def test_sign_agreement_ignores_zeros_and_respects_mask():
    diff, lfc = series([1, -1, 2, 0]), series([2, -3, -1, 1])
    m = sign_agreement(diff, lfc)
    assert m["sign_agreement"] == pytest.approx(2 / 3) and m["n_sign_genes"] == 3
    assert m["chance_sign_agreement"] == 0.5
    assert sign_agreement(diff, lfc, mask=series([True, True, False, True]))["sign_agreement"] == 1.0
    assert np.isnan(sign_agreement(diff, lfc, mask=series([False] * 4))["sign_agreement"])


def test_jaccard_stability_and_chance():
    m = jaccard_stability([{"a", "b"}, {"a", "c"}, {"a", "b"}], population=3)
    assert m["stability"] == pytest.approx((1 / 3 + 1 + 1 / 3) / 3)
    # Two random 2-sets of 3 genes share 2 genes w.p. 1/3, else 1: E[J] = 1/3 + 2/3 * 1/3.
    assert m["chance_stability"] == pytest.approx(5 / 9)
    assert np.isnan(jaccard_stability([{"a"}])["stability"])
