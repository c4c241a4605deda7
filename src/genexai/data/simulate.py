"""Negative-binomial RNA-seq simulator with planted differentially expressed genes.

The default dataset: it makes ``python train.py`` work on a fresh machine and, unlike
real data, it carries the truth (``var["is_de"]``, ``var["true_log2fc"]``), so the
harness can ask whether attributions or DESeq2 are closer to it.

Model (METHODS.md): ``x_ij ~ NB(mean = s_i · q_ij, dispersion α_j)`` with
``q_ij = μ_j · 2^(β_j · [i in B])``, log-normal ``μ_j``, and
``α_j = (a1 / μ_j + a0) · exp(ε_j)`` — DESeq2's dispersion trend plus log-normal scatter.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

__all__ = ["simulate_counts"]


def simulate_counts(
    n_samples: int = 200,
    n_genes: int = 2000,
    de_fraction: float = 0.05,
    lfc_mean: float = 1.0,
    lfc_sd: float = 0.3,
    log_mean_mu: float = 4.5,
    log_sd_mu: float = 1.8,
    dispersion_a0: float = 0.1,
    dispersion_a1: float = 1.0,
    dispersion_scatter: float = 0.5,
    size_factor_sd: float = 0.25,
    class_balance: float = 0.5,
    class_names: tuple[str, str] = ("A", "B"),
    seed: int = 0,
) -> ad.AnnData:
    """Simulate raw counts for a two-group experiment.

    Parameters
    ----------
    n_samples, n_genes
        Size of the count matrix (samples × genes).
    de_fraction
        Fraction of genes with a non-zero log2 fold change (0 gives a null dataset).
    lfc_mean, lfc_sd
        ``|β_j| ~ |N(lfc_mean, lfc_sd)|`` for DE genes; the sign is random (half up in B).
    log_mean_mu, log_sd_mu
        Natural-log mean and sd of the gene base means ``μ_j``.
    dispersion_a0, dispersion_a1, dispersion_scatter
        Dispersion trend ``a1/μ + a0`` and the sd of its log-normal scatter.
    size_factor_sd
        Sd of log size factors (library-size variation between samples).
    class_balance
        Fraction of samples in group B.
    seed
        Seed of the random generator; the same seed gives the same dataset.
    """
    rng = np.random.default_rng(seed)
    n_b = int(round(n_samples * class_balance))
    in_b = np.zeros(n_samples, dtype=bool)
    in_b[rng.choice(n_samples, n_b, replace=False)] = True

    mu = np.exp(rng.normal(log_mean_mu, log_sd_mu, n_genes))
    dispersion = (dispersion_a1 / mu + dispersion_a0) * np.exp(rng.normal(0.0, dispersion_scatter, n_genes))
    n_de = int(round(de_fraction * n_genes))
    is_de = np.zeros(n_genes, dtype=bool)
    is_de[rng.choice(n_genes, n_de, replace=False)] = True
    lfc = np.zeros(n_genes)
    lfc[is_de] = np.abs(rng.normal(lfc_mean, lfc_sd, n_de)) * rng.choice([-1.0, 1.0], n_de)

    size_factors = np.exp(rng.normal(0.0, size_factor_sd, n_samples))
    mean = size_factors[:, None] * mu[None, :] * np.exp2(np.outer(in_b, lfc))
    # NB(mean m, dispersion α) as numpy's (n, p): n = 1/α, p = n / (n + m).
    n = 1.0 / dispersion
    counts = rng.negative_binomial(n[None, :], n[None, :] / (n[None, :] + mean)).astype(np.int64)

    obs = pd.DataFrame(
        {"condition": pd.Categorical(np.where(in_b, class_names[1], class_names[0]), categories=list(class_names))},
        index=pd.Index([f"sample_{i:04d}" for i in range(n_samples)], name="sample"),
    )
    obs["true_size_factor"] = size_factors
    var = pd.DataFrame(
        {"is_de": is_de, "true_log2fc": lfc, "true_base_mean": mu, "true_dispersion": dispersion},
        index=pd.Index([f"gene_{j:05d}" for j in range(n_genes)], name="gene"),
    )
    adata = ad.AnnData(X=counts, obs=obs, var=var)
    adata.uns["source"] = {"simulated": True, "seed": seed}
    return adata
