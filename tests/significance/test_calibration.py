"""Calibration: on null data nothing is called and p-values are uniform; on planted genes the realised FDP stays near the nominal level.

Null data: ``simulate_counts`` with ``de_fraction=0`` — the A/B labels are random with
respect to expression. How uniformity is tested:

* per-gene permutation p-values are discrete (multiples of ``1/(B+1)``) and conservative
  under ties, so the Kolmogorov–Smirnov test is applied to their tie-randomised version
  (:func:`~genexai.significance.fdr.randomized_permutation_pvalues`, exactly U(0, 1) when the
  observed model is exchangeable with the null models), and the plain p-values must have a
  mean near 1/2;
* decoy p-values of all genes share one set of decoys, so they are dependent and a one-sample
  KS test would be too liberal; what the target–decoy estimate assumes is that null real genes
  and decoys are exchangeable, which is tested directly with the two-sample KS test
  (real vs decoy importances of the decoy run).
Fixed seeds throughout; each test also prints (``-s``) what it measured.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, kstest

from genexai.significance.fdr import randomized_permutation_pvalues
from genexai.significance.permutation import importance_share
from tests.significance.conftest import MLP, RIDGE, fdp_and_power


def _randomized_pvalues(run_dir, method: str, table: pd.DataFrame) -> np.ndarray:
    """Tie-randomised p-values of the tested statistic (each gene's share of its model's importance)."""
    null = pd.read_parquet(run_dir / "significance" / "null_importance.parquet")
    matrix = null[null["method"] == method].pivot(index="permutation", columns="gene", values="importance")
    null_shares = importance_share(matrix[table["gene"]].to_numpy())
    return randomized_permutation_pvalues(table["significance_score"].to_numpy(), null_shares, np.random.default_rng(0))


def test_permutation_null_data_calls_nothing_and_pvalues_are_uniform(small_run, tmp_path):
    importance, metrics, planted = small_run(0.0, [*RIDGE, "significance=permutation", "significance.n_permutations=100"])
    assert not planted
    for method, table in importance.groupby("method"):
        called = (table["qvalue"] < 0.05).mean()
        ks = kstest(_randomized_pvalues(tmp_path, method, table), "uniform").pvalue
        print(f"{method}: called {called:.3f}, mean p {table['pvalue'].mean():.3f}, KS p {ks:.3f}")
        assert called <= 0.01
        assert 0.4 < table["pvalue"].mean() < 0.6
        assert ks > 0.01
    assert metrics["significance"]["min_pvalue"] == pytest.approx(1 / 101)


def test_pooled_permutation_null_is_uniform_on_null_data(small_run):
    importance, _, _ = small_run(0.0, [*RIDGE, "significance=permutation", "significance.n_permutations=50", "significance.pooled=true"])
    for method, table in importance.groupby("method"):
        ks = kstest(table["pvalue"], "uniform").pvalue  # resolution 1/(B*G+1): continuous enough for KS
        print(f"pooled {method}: called {(table['qvalue'] < 0.05).sum()}, KS p {ks:.3f}")
        assert (table["qvalue"] < 0.05).mean() <= 0.01 and ks > 0.01
    assert set(importance["significance"]) == {"permutation_pooled"}


def test_permutation_fdp_on_planted_genes_stays_near_nominal(small_run):
    # B = 200: the smallest p-value 1/201 lets BH call ~10 of 200 genes at 0.1 (resolution limit).
    importance, _, planted = small_run(0.1, [*RIDGE, "significance=permutation", "significance.n_permutations=200"])
    for method, table in importance.groupby("method"):
        n_called, fdp, power = fdp_and_power(table, planted, 0.1)
        print(f"permutation {method}: {n_called} called at q < 0.1, FDP {fdp:.3f}, power {power:.3f} ({len(planted)} planted)")
        assert fdp <= 0.15
        assert power >= 0.3


@pytest.mark.parametrize("model", ["ridge", "mlp"])
def test_decoy_null_data_calls_nothing_and_decoys_are_exchangeable(small_run, tmp_path, model):
    overrides = RIDGE if model == "ridge" else MLP
    importance, _, _ = small_run(0.0, [*overrides, "significance=decoy", "significance.decoy_ratio=1.0"])
    decoys = pd.read_parquet(tmp_path / "significance" / "decoy_importance.parquet")
    for method, table in importance.groupby("method"):
        rows = decoys[decoys["method"] == method]
        ks = ks_2samp(rows.loc[~rows["is_decoy"], "importance"], rows.loc[rows["is_decoy"], "importance"]).pvalue
        print(f"decoy {model} {method}: called {(table['qvalue'] < 0.05).sum()}, real-vs-decoy KS p {ks:.3f}")
        assert (table["qvalue"] < 0.05).mean() <= 0.01
        assert ks > 0.01


@pytest.mark.parametrize("model", ["ridge", "mlp"])
def test_decoy_fdp_on_planted_genes_stays_near_nominal(small_run, model):
    overrides = RIDGE if model == "ridge" else MLP
    importance, _, planted = small_run(0.1, [*overrides, "significance=decoy", "significance.decoy_ratio=5"])
    for method, table in importance.groupby("method"):
        n_called, fdp, power = fdp_and_power(table, planted, 0.1)
        print(f"decoy {model} {method}: {n_called} called at q < 0.1, FDP {fdp:.3f}, power {power:.3f}")
        assert fdp <= 0.15
        assert power >= 0.3


@pytest.mark.slow
def test_mlp_permutation_null_is_calibrated_and_fdp_near_nominal_on_planted_genes(small_run, tmp_path):
    """The MLP through Lightning: B = 100 null models on null data, B = 150 on planted genes (minutes)."""
    importance, _, _ = small_run(0.0, [*MLP, "significance=permutation", "significance.n_permutations=100"])
    for method, table in importance.groupby("method"):
        ks = kstest(_randomized_pvalues(tmp_path, method, table), "uniform").pvalue
        print(f"MLP null {method}: called {(table['qvalue'] < 0.05).sum()}, KS p {ks:.3f}")
        assert (table["qvalue"] < 0.05).mean() <= 0.01 and ks > 0.01
    planted_dir = tmp_path / "planted"
    from tests.significance.conftest import run_small

    importance, _, planted = run_small(planted_dir, 0.1, [*MLP, "significance=permutation", "significance.n_permutations=150"])
    for method, table in importance.groupby("method"):
        n_called, fdp, power = fdp_and_power(table, planted, 0.1)
        print(f"MLP planted {method}: {n_called} called at q < 0.1, FDP {fdp:.3f}, power {power:.3f}")
        assert fdp <= 0.15 and power >= 0.3
