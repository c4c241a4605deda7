"""Fixtures for the DE tests: a small negative-binomial dataset with planted effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def simulate_nb(
    n_per_group: int = 20,
    n_genes: int = 500,
    de_fraction: float = 0.1,
    lfc: float = 2.0,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """NB counts by gamma-Poisson mixing, groups A (reference) then B.

    Returns counts (samples x genes), metadata (``condition``, numeric ``batch``) and
    the truth (``is_de``, ``true_log2fc``: B vs A) per gene.
    """
    rng = np.random.default_rng(seed)
    n = 2 * n_per_group
    mu = np.exp(rng.normal(5.0, 1.2, n_genes))
    dispersion = 0.1 + 1.0 / mu
    beta = np.zeros(n_genes)
    de = rng.choice(n_genes, int(round(de_fraction * n_genes)), replace=False)
    beta[de] = lfc * rng.choice([-1.0, 1.0], len(de))
    in_b = np.repeat([0.0, 1.0], n_per_group)
    size_factors = np.exp(rng.normal(0.0, 0.2, n))
    mean = size_factors[:, None] * mu[None, :] * 2.0 ** (beta[None, :] * in_b[:, None])
    lam = rng.gamma(1.0 / dispersion, mean * dispersion)  # Gamma(shape=1/α, scale=mean·α)
    samples = [f"s{i:02d}" for i in range(n)]
    genes = [f"g{j:04d}" for j in range(n_genes)]
    counts = pd.DataFrame(rng.poisson(lam), index=samples, columns=genes)
    metadata = pd.DataFrame(
        {"condition": np.where(in_b == 1, "B", "A"), "batch": np.tile([1, 2], n_per_group)},
        index=samples,
    )
    truth = pd.DataFrame({"is_de": beta != 0, "true_log2fc": beta}, index=genes)
    return counts, metadata, truth


@pytest.fixture(scope="session")
def nb_data():
    """20 vs 20 samples x 500 genes, 10% DE with |log2FC| = 2."""
    return simulate_nb()


@pytest.fixture(scope="session")
def tiny_nb():
    """20 vs 20 samples x 100 genes: cheap enough to fit several times."""
    return simulate_nb(n_genes=100, seed=3)
