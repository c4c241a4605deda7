"""PyDESeq2's per-gene scipy optimiser, for the genes the batched IRLS hands back; one-sided Wald tails."""

from __future__ import annotations

import warnings

import numpy as np
from pydeseq2 import utils as pd_utils
from pydeseq2.grid_search import grid_fit_beta
from scipy.optimize import minimize
from scipy.stats import norm


def _greater(z: np.ndarray, contrast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stat = np.fmax(z, 0) @ contrast
    return stat, norm.sf(stat)


def _less(z: np.ndarray, contrast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stat = np.fmin(z, 0) @ contrast
    return stat, norm.sf(np.abs(stat))


def _irls_optimizer_fallback(
    counts: np.ndarray,
    size_factors: np.ndarray,
    X: np.ndarray,
    disp: float,
    beta_init: np.ndarray,
    min_mu: float,
    min_beta: float,
    max_beta: float,
    optimizer: str,
) -> tuple[np.ndarray, bool]:
    """The branch of ``pydeseq2.utils.irls_solver`` taken when IRLS diverges or stalls.

    Same closure, gradient, start (``beta_init``), bounds and grid-search rescue.
    """
    num_vars = X.shape[1]
    ridge_factor = np.diag(np.repeat(1e-6, num_vars))

    def f(beta: np.ndarray) -> float:
        mu_ = np.maximum(size_factors * np.exp(X @ beta), min_mu)
        return pd_utils.nb_nll(counts, mu_, disp) + 0.5 * (ridge_factor @ beta**2).sum()

    def df(beta: np.ndarray) -> np.ndarray:
        mu_ = np.maximum(size_factors * np.exp(X @ beta), min_mu)
        return -X.T @ counts + ((1 / disp + counts) * mu_ / (1 / disp + mu_)) @ X + ridge_factor @ beta

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = minimize(
            f,
            beta_init,
            jac=df,
            method=optimizer,
            bounds=[(min_beta, max_beta)] * num_vars if optimizer == "L-BFGS-B" else None,
        )
    beta = res.x
    if not res.success and num_vars <= 2:
        beta = grid_fit_beta(counts, size_factors, X, disp)
    return beta, bool(res.success)
