"""The negative-binomial GLM fit of DESeq2 (IRLS), batched over genes.

Same as ``pydeseq2.utils.irls_solver``: initialisation by least squares on
``log(y/s + 0.1)``, the IRLS update with ridge ``1e-6``, the ``min_mu`` threshold and the
stopping rule ``|dev - dev_old| / (|dev| + 0.1) <= beta_tol`` (``dev = -2 log L``). A gene
whose update leaves ``[-max_beta, max_beta]`` or that reaches ``maxiter`` is handed, as
in PyDESeq2, to scipy's optimizer (and then the grid search) from the same start.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import torch
from pydeseq2 import utils as pd_utils
from pydeseq2.grid_search import grid_fit_beta
from scipy.optimize import minimize

from genexai.de.torch.linalg import gram, outer_rows, spd_inverse

__all__ = ["IrlsOptions", "irls_chunk", "irls_optimizer_fallback"]


class IrlsOptions(NamedTuple):
    """The solver options of ``Inference.irls`` (PyDESeq2's names and defaults)."""

    min_mu: float
    beta_tol: float
    min_beta: float = -30
    max_beta: float = 30
    optimizer: str = "L-BFGS-B"
    maxiter: int = 250


def _initial_beta(design_matrix: np.ndarray, X: torch.Tensor, Y: torch.Tensor, sf: torch.Tensor) -> torch.Tensor:
    """Initial betas, as irls_solver: least squares of log(y/s + 0.1) when X has full rank."""
    G, p = Y.shape[1], X.shape[1]
    if np.linalg.matrix_rank(np.asarray(design_matrix)) == p:
        Q, R = torch.linalg.qr(X)
        return torch.linalg.solve_triangular(R, Q.T @ torch.log(Y / sf + 0.1), upper=True).T
    beta_init = torch.zeros(G, p, dtype=X.dtype, device=X.device)
    beta_init[:, 0] = torch.log(Y / sf).mean(0)
    return beta_init


def _irls_loop(
    X: torch.Tensor, Y: torch.Tensor, sf: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, opts: IrlsOptions
) -> torch.Tensor:
    """Run IRLS on every gene, updating ``beta`` in place; returns the genes that diverged."""
    n, p = X.shape
    G = Y.shape[1]
    XX = outer_rows(X)
    ridge = torch.eye(p, dtype=X.dtype, device=X.device) * 1e-6
    # -2 log L = -2 (const + var); the lgamma part does not change while alpha is fixed.
    r = 1.0 / alpha
    logbinom = torch.lgamma(Y + r) - torch.lgamma(Y + 1.0) - torch.lgamma(r)
    const = n * r * torch.log(alpha) - logbinom.sum(0)
    del logbinom

    # mu = max(s e^eta, min_mu), so log(mu / s) = max(eta, log(min_mu / s)): no log needed.
    log_sf = torch.log(sf)
    eta_floor = np.log(opts.min_mu) - log_sf

    def dev_of(y, log_mu_s, r_, c_):
        m = torch.exp(log_mu_s) * sf
        return -2.0 * (c_ + ((y + r_) * torch.log(r_ + m) - y * (log_mu_s + log_sf)).sum(0)), m

    fallback = torch.zeros(G, dtype=torch.bool, device=X.device)
    active = torch.arange(G, device=X.device)
    Ya, ra, ca, aa = Y, r, const, alpha
    log_mu_s = torch.maximum(X @ beta.T, eta_floor)  # log(mu / s) at the thresholded mu
    mua = torch.exp(log_mu_s) * sf
    dev = torch.full((G,), 1000.0, dtype=X.dtype, device=X.device)
    it = 0
    while active.numel():
        W = mua / (1.0 + mua * aa)
        z = log_mu_s + (Ya - mua) / mua
        H = gram(XX, W, p) + ridge
        rhs = (W * z).T @ X
        beta_hat = (spd_inverse(H)[0] @ rhs.unsqueeze(-1)).squeeze(-1)
        it += 1
        diverged = (beta_hat.abs() > opts.max_beta).any(1) | ~torch.isfinite(beta_hat).all(1)
        if it >= opts.maxiter:
            diverged[:] = True
        if diverged.any():
            fallback[active[diverged]] = True
            keep = ~diverged
            active, Ya, ra, ca, aa, beta_hat, dev = (
                active[keep], Ya[:, keep], ra[keep], ca[keep], aa[keep], beta_hat[keep], dev[keep]
            )
        beta[active] = beta_hat
        log_mu_s = torch.maximum(X @ beta_hat.T, eta_floor)
        old_dev = dev
        dev, mua = dev_of(Ya, log_mu_s, ra, ca)
        ratio = (dev - old_dev).abs() / (dev.abs() + 0.1)
        go_on = ratio > opts.beta_tol  # NaN stops, as `while dev_ratio > beta_tol`
        if not go_on.all():
            active, Ya, ra, ca, aa, mua, log_mu_s, dev = (
                active[go_on], Ya[:, go_on], ra[go_on], ca[go_on], aa[go_on],
                mua[:, go_on], log_mu_s[:, go_on], dev[go_on],
            )  # fmt: skip
    return fallback


def _hat_diagonals(
    X: torch.Tensor, sf: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, min_mu: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hat diagonals W^½ X (X^T W X + ridge)^-1 X^T W^½ at the thresholded means, and the means."""
    G, p = beta.shape
    XX = outer_rows(X)
    ridge = torch.eye(p, dtype=X.dtype, device=X.device) * 1e-6
    eta = X @ beta.T
    mu_thr = torch.clamp(sf * torch.exp(eta), min=min_mu)
    W = mu_thr / (1.0 + mu_thr * alpha)
    inv, _ = spd_inverse(gram(XX, W, p) + ridge)
    hat = W * (XX @ inv.reshape(G, p * p).T)
    mu = sf * torch.exp(eta)  # unthresholded, as PyDESeq2 returns
    return hat, mu


def irls_chunk(
    counts: np.ndarray,
    size_factors: np.ndarray,
    design_matrix: np.ndarray,
    disp: np.ndarray,
    opts: IrlsOptions,
    device: torch.device,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """IRLS of one chunk of genes; returns ``beta, mu, hat, converged`` and the number of fallbacks."""

    def t(array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array, dtype=np.float64), device=device)

    X = t(design_matrix)
    sf = t(size_factors)[:, None]
    Y = t(counts)
    alpha = t(disp)
    beta_init = _initial_beta(design_matrix, X, Y, sf)
    beta = beta_init.clone()
    fallback = _irls_loop(X, Y, sf, alpha, beta, opts)
    converged = np.ones(Y.shape[1], dtype=bool)
    idx = fallback.nonzero().squeeze(1).cpu().numpy() if fallback.any() else np.empty(0, dtype=int)
    if len(idx):
        init = beta_init.cpu().numpy()
        for j in idx:
            b, ok = irls_optimizer_fallback(
                np.asarray(counts[:, j], dtype=np.float64), np.asarray(size_factors, dtype=np.float64),
                np.asarray(design_matrix, dtype=np.float64), float(disp[j]), init[j],
                opts.min_mu, opts.min_beta, opts.max_beta, opts.optimizer,
            )  # fmt: skip
            beta[j] = torch.as_tensor(b, dtype=X.dtype, device=X.device)
            converged[j] = ok
    hat, mu = _hat_diagonals(X, sf, alpha, beta, opts.min_mu)
    return beta.cpu().numpy(), mu.cpu().numpy(), hat.cpu().numpy(), converged, len(idx)


def irls_optimizer_fallback(
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
