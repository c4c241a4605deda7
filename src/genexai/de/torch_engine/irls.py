"""Batched IRLS of the negative-binomial GLM for a chunk of genes (PyDESeq2 ``irls_solver`` semantics)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from genexai.de.torch_engine.numerics import _spd_inverse
from genexai.de.torch_engine.fallback import _irls_optimizer_fallback

if TYPE_CHECKING:
    from genexai.de.torch_engine.inference import TorchInference

__all__ = ["irls_chunk"]


def irls_chunk(
    self: TorchInference,
    counts: np.ndarray,
    size_factors: np.ndarray,
    design_matrix: np.ndarray,
    disp: np.ndarray,
    min_mu: float,
    beta_tol: float,
    min_beta: float,
    max_beta: float,
    optimizer: str,
    maxiter: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X = self._t(design_matrix)
    n, p = X.shape
    sf = self._t(size_factors)[:, None]
    Y = self._t(counts)
    G = Y.shape[1]
    alpha = self._t(disp)
    XX = self._outer_rows(X)
    ridge = torch.eye(p, dtype=X.dtype, device=X.device) * 1e-6

    # Initial betas, as irls_solver: least squares of log(y/s + 0.1) when X has full rank.
    if np.linalg.matrix_rank(np.asarray(design_matrix)) == p:
        Q, R = torch.linalg.qr(X)
        beta_init = torch.linalg.solve_triangular(R, Q.T @ torch.log(Y / sf + 0.1), upper=True).T
    else:
        beta_init = torch.zeros(G, p, dtype=X.dtype, device=X.device)
        beta_init[:, 0] = torch.log(Y / sf).mean(0)
    beta = beta_init.clone()

    # -2 log L = -2 (const + var); the lgamma part does not change while alpha is fixed.
    r = 1.0 / alpha
    logbinom = torch.lgamma(Y + r) - torch.lgamma(Y + 1.0) - torch.lgamma(r)
    const = n * r * torch.log(alpha) - logbinom.sum(0)
    del logbinom

    # mu = max(s e^eta, min_mu), so log(mu / s) = max(eta, log(min_mu / s)): no log needed.
    log_sf = torch.log(sf)
    eta_floor = np.log(min_mu) - log_sf

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
        H = self._gram(XX, W, p) + ridge
        rhs = (W * z).T @ X
        beta_hat = (_spd_inverse(H)[0] @ rhs.unsqueeze(-1)).squeeze(-1)
        it += 1
        diverged = (beta_hat.abs() > max_beta).any(1) | ~torch.isfinite(beta_hat).all(1)
        if it >= maxiter:
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
        go_on = ratio > beta_tol  # NaN stops, as `while dev_ratio > beta_tol`
        if not go_on.all():
            active, Ya, ra, ca, aa, mua, log_mu_s, dev = (
                active[go_on], Ya[:, go_on], ra[go_on], ca[go_on], aa[go_on],
                mua[:, go_on], log_mu_s[:, go_on], dev[go_on],
            )  # fmt: skip

    converged = np.ones(G, dtype=bool)
    if fallback.any():
        idx = fallback.nonzero().squeeze(1).cpu().numpy()
        self.fallbacks["irls"] += len(idx)
        self.fallbacks_total["irls"] += len(idx)
        init = beta_init.cpu().numpy()
        for j in idx:
            b, ok = _irls_optimizer_fallback(
                np.asarray(counts[:, j], dtype=np.float64), np.asarray(size_factors, dtype=np.float64),
                np.asarray(design_matrix, dtype=np.float64), float(disp[j]), init[j],
                min_mu, min_beta, max_beta, optimizer,
            )  # fmt: skip
            beta[j] = torch.as_tensor(b, dtype=X.dtype, device=X.device)
            converged[j] = ok

    # Hat diagonals W^½ X (X^T W X + ridge)^-1 X^T W^½ at the thresholded means.
    eta = X @ beta.T
    mu_thr = torch.clamp(sf * torch.exp(eta), min=min_mu)
    W = mu_thr / (1.0 + mu_thr * alpha)
    inv, _ = _spd_inverse(self._gram(XX, W, p) + ridge)
    hat = W * (XX @ inv.reshape(G, p * p).T)
    mu = sf * torch.exp(eta)  # unthresholded, as PyDESeq2 returns
    return beta.cpu().numpy(), mu.cpu().numpy(), hat.cpu().numpy(), converged

# ------------------------------------------------------------ dispersions
