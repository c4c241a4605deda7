"""The significance formulas on hand-computed examples (METHODS.md, *Significance for attributions*)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kstest

from genexai.errors import ConfigError
from genexai.significance.fdr import (
    bh_qvalues,
    count_at_least,
    decoy_pvalues,
    permutation_pvalues,
    randomized_permutation_pvalues,
    target_decoy_fdr,
    target_decoy_qvalues,
)
from genexai.significance.permutation import importance_share, permutation_significance
from genexai.significance.views import decoy_sources

OBSERVED = np.array([3.0, 1.0, 0.5])
#: B = 3 null models (rows) x 3 genes (columns)
NULL = np.array([[1.0, 2.0, 0.5], [4.0, 0.0, 0.1], [2.0, 1.0, 0.6]])


def test_count_at_least_counts_ties():
    assert count_at_least(np.array([1.0, 2.0, 2.0, 3.0]), np.array([2.0, 3.5, 0.0])).tolist() == [3, 0, 4]


def test_per_gene_permutation_pvalues_with_the_plus_one_correction():
    # gene 0: nulls 1, 4, 2 -> one >= 3 -> (1 + 1) / 4; gene 1: 2, 0, 1 -> two >= 1 (the tie counts);
    # gene 2: 0.5, 0.1, 0.6 -> two >= 0.5
    np.testing.assert_allclose(permutation_pvalues(OBSERVED, NULL), [2 / 4, 3 / 4, 3 / 4])


def test_pooled_permutation_pvalues_rank_against_all_null_values():
    # all 9 null values: >= 3: {4} -> (1+1)/10; >= 1: {1,2,4,2,1} -> 6/10; >= 0.5: 7 values -> 8/10
    np.testing.assert_allclose(permutation_pvalues(OBSERVED, NULL, pooled=True), [0.2, 0.6, 0.8])


def test_permutation_pvalue_resolution_is_one_over_b_plus_one():
    p = permutation_pvalues(np.array([100.0]), np.zeros((49, 1)))
    assert p[0] == pytest.approx(1 / 50)


def test_permutation_pvalues_refuse_mismatched_shapes_and_nan():
    with pytest.raises(ConfigError, match="expected"):
        permutation_pvalues(OBSERVED, NULL[:, :2])
    with pytest.raises(ConfigError, match="NaN"):
        permutation_pvalues(np.array([np.nan, 1.0, 1.0]), NULL)


def test_bh_qvalues_by_hand():
    # sorted p: 0.01, 0.03, 0.04, 0.5 -> p*m/rank: 0.04, 0.06, 0.0533, 0.5 -> running min from the top
    q = bh_qvalues(np.array([0.01, 0.04, 0.03, 0.5]))
    np.testing.assert_allclose(q, [0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_decoy_pvalues_by_hand():
    real, decoys = np.array([5.0, 2.0, 0.5]), np.array([3.0, 1.0, 0.2, 0.1])
    # >= 5: none -> 1/5; >= 2: {3} -> 2/5; >= 0.5: {3, 1} -> 3/5
    np.testing.assert_allclose(decoy_pvalues(real, decoys), [0.2, 0.4, 0.6])


REAL = np.array([10.0, 9.0, 8.0, 7.0, 1.0])
DECOYS = np.array([7.5, 2.0, 0.5, 0.2, 0.1])


def test_target_decoy_fdr_and_qvalues_without_plus_one():
    # tau = 10, 9, 8: no decoy above -> 0; tau = 7: 1 decoy (7.5) / 4 real; tau = 1: 2 decoys / 5 real
    fdr = target_decoy_fdr(REAL, DECOYS, REAL, plus_one=False)
    np.testing.assert_allclose(fdr, [0, 0, 0, 0.25, 0.4])
    np.testing.assert_allclose(target_decoy_qvalues(REAL, DECOYS, plus_one=False), [0, 0, 0, 0.25, 0.4])


def test_target_decoy_qvalues_with_plus_one_are_made_monotone():
    # (D + 1) / R: tau 10 -> 1/1, 9 -> 1/2, 8 -> 1/3, 7 -> 2/4, 1 -> 3/5; q = min over lower thresholds
    fdr = target_decoy_fdr(REAL, DECOYS, REAL, plus_one=True)
    np.testing.assert_allclose(fdr, [1, 0.5, 1 / 3, 0.5, 0.6])
    np.testing.assert_allclose(target_decoy_qvalues(REAL, DECOYS), [1 / 3, 1 / 3, 1 / 3, 0.5, 0.6])


def test_target_decoy_divides_decoy_counts_by_the_ratio():
    real, decoys = np.array([10.0, 5.0, 1.0]), np.array([6.0, 0.5, 0.4, 0.3, 0.2, 0.1])  # ratio 2
    # plain: tau 10 -> 0; tau 5 -> (1/2)/2; tau 1 -> (1/2)/3 -> q = [0, 1/6, 1/6]
    np.testing.assert_allclose(target_decoy_qvalues(real, decoys, plus_one=False), [0, 1 / 6, 1 / 6])
    # +1: tau 10 -> (1/2)/1; tau 5 -> (2/2)/2; tau 1 -> (2/2)/3 -> q = 1/3 for all
    np.testing.assert_allclose(target_decoy_qvalues(real, decoys), [1 / 3, 1 / 3, 1 / 3])


def test_target_decoy_qvalues_are_capped_at_one_and_follow_importance():
    rng = np.random.default_rng(0)
    real, decoys = rng.random(50), rng.random(50)
    q = target_decoy_qvalues(real, decoys)
    assert (q <= 1).all()
    order = np.argsort(-real)
    assert (np.diff(q[order]) >= 0).all()  # less important genes never get smaller q-values


def test_randomized_permutation_pvalues_are_uniform_under_exchangeability_with_ties():
    # lasso-like importances: mostly exact zeros, so the plain p-values pile up at 1
    rng = np.random.default_rng(1)
    draws = np.where(rng.random((51, 400)) < 0.8, 0.0, rng.exponential(size=(51, 400)))
    observed, null = draws[0], draws[1:]
    assert kstest(permutation_pvalues(observed, null), "uniform").pvalue < 1e-6
    assert kstest(randomized_permutation_pvalues(observed, null, rng), "uniform").pvalue > 0.05


def test_decoy_sources_follow_the_ratio():
    rng = np.random.default_rng(0)
    assert decoy_sources(4, 1.0, rng).tolist() == [0, 1, 2, 3]
    assert sorted(decoy_sources(4, 2.0, rng).tolist()) == [0, 0, 1, 1, 2, 2, 3, 3]
    half = decoy_sources(10, 0.5, rng)
    assert len(half) == 5 and len(set(half.tolist())) == 5
    with pytest.raises(ConfigError, match="decoy_ratio"):
        decoy_sources(4, 0.0, rng)


def test_importance_share_and_scale_invariant_permutation_pvalues():
    np.testing.assert_allclose(importance_share(np.array([3.0, 1.0, -0.5])), [3 / 4.5, 1 / 4.5, -0.5 / 4.5])
    assert importance_share(np.zeros(3)).tolist() == [0, 0, 0]
    genes = ["g0", "g1", "g2"]
    observed = pd.DataFrame({"method": "m", "gene": genes, "importance": OBSERVED})
    null = pd.DataFrame(
        [{"permutation": b, "method": "m", "gene": g, "importance": NULL[b, j]} for b in range(3) for j, g in enumerate(genes)]
    )
    shares = permutation_pvalues(importance_share(OBSERVED), importance_share(NULL))
    table = permutation_significance(observed, null)
    np.testing.assert_allclose(table["pvalue"], shares)
    np.testing.assert_allclose(table["significance_score"], importance_share(OBSERVED))
    # a null model with 10x larger gradients everywhere changes no share, hence no p-value
    scaled = null.assign(importance=null["importance"] * np.where(null["permutation"] == 1, 10.0, 1.0))
    np.testing.assert_allclose(permutation_significance(observed, scaled)["pvalue"], shares)
    raw = permutation_significance(observed, null, normalize=False)
    np.testing.assert_allclose(raw["pvalue"], [2 / 4, 3 / 4, 3 / 4])
    # BH by hand on p = 1/2, 3/4, 3/4 (m = 3): m p / rank = 3/2, 3/4, 3/4 -> running min from the top: 3/4 each
    np.testing.assert_allclose(raw["qvalue"], [0.75, 0.75, 0.75])



def test_decoy_fdr_is_called_a_heuristic_estimate_not_knockoff_control():
    # Permuted decoys are not model-X knockoffs (no correlation with other genes, no pairing), so
    # nothing user-facing may promise knockoff+'s finite-sample FDR control for them.
    from pathlib import Path

    import genexai.significance.decoy as decoy

    root = Path(__file__).resolve().parents[2]
    texts = {
        "decoy.py": decoy.__doc__ or "",
        "decoy.yaml": (root / "configs" / "significance" / "decoy.yaml").read_text(),
        "significance.md": (root / "docs" / "significance.md").read_text(),
    }
    for name, text in texts.items():
        flat = " ".join(text.split()).lower()
        assert "heuristic" in flat, name
        assert "finite-sample fdr control)" not in flat and "(knockoff+, finite-sample" not in flat, name
