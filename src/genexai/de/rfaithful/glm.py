"""R DESeq2's negative-binomial GLM fit (``fitNbinomGLMs``: ``fitBeta`` in DESeq2.cpp, then ``optim``), batched.

PyDESeq2's IRLS (and the torch engine's twin) differs from R's in the rules that decide
low-count genes, those with (almost) all-zero groups, whose p-values then move the
independent-filtering threshold:

* R's ridge is ``λ = 1e-6`` on the log2 scale (``1e-6 / ln 2²`` on the natural one), at most
  100 iterations, and it tests convergence only from the second iteration;
* a gene whose update leaves ``|β| ≤ 30`` (natural log), whose deviance is NaN, or that does
  not converge goes to ``optim(method="L-BFGS-B")`` on the **log2** scale within ``[-30, 30]``,
  with R's finite-difference gradient (``ndeps = 1e-3``), no ``min_mu`` floor in the
  objective and the ridge as a normal prior — PyDESeq2 uses scipy with the analytic
  gradient of a floored objective within ``[-30, 30]`` on the natural scale;
* the Wald standard errors use the floored means ``max(μ, min_mu)`` (PyDESeq2: unfloored);
* an intercept-only design (the LRT's usual reduced model) is the log of the mean
  normalised count, R's closed form, not an IRLS fit.

This module is the fit; :class:`~genexai.de.rfaithful.pipeline.RDeseqStats` uses the
floored means in the Wald test. The IRLS runs on the torch device of the inference engine.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import gammaln, xlogy

from genexai.de.torch.linalg import gram, outer_rows, spd_inverse

__all__ = ["RIDGE_NATURAL", "GlmFit", "fit_nbinom_glm"]

#: R's default ``lambda = 1e-6`` (log2 scale), on the natural-log scale of the coefficients.
RIDGE_NATURAL = 1e-6 / np.log(2) ** 2
_LARGE = 30.0
_NDEPS = 1e-3


class GlmFit(NamedTuple):
    """Per gene: natural-log coefficients, unfloored means, hat diagonals (samples × genes), convergence.

    ``iterations`` is R's ``betaIter``: IRLS steps, ``maxit`` for the genes handed to optim.
    """

    beta: np.ndarray
    mu: np.ndarray
    hat_diagonals: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def _initial_beta(X: np.ndarray, normed: np.ndarray) -> np.ndarray:
    """R's start: least squares of ``log(normalised counts + 0.1)`` (full rank), else the log base mean."""
    if np.linalg.matrix_rank(X) == X.shape[1]:
        q, r = np.linalg.qr(X)
        return np.linalg.solve(r, q.T @ np.log(normed + 0.1)).T
    beta = np.zeros((normed.shape[1], X.shape[1]))
    beta[:, 0] = np.log(normed.mean(0))
    return beta


def _deviance_constant(y: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """The part of ``-2 log L`` that does not change while the dispersion is fixed (lgamma once, not per step)."""
    r = 1.0 / alpha
    log_binom = torch.lgamma(y + r) - torch.lgamma(r) - torch.lgamma(y + 1.0)
    return -2.0 * (log_binom.sum(0) + y.shape[0] * r * torch.log(r))


def _deviance(y: torch.Tensor, mu: torch.Tensor, alpha: torch.Tensor, constant: torch.Tensor) -> torch.Tensor:
    """``-2 Σ log dnbinom(y; size = 1/α, μ)`` per gene (column)."""
    r = 1.0 / alpha
    return constant - 2.0 * (y * torch.log(mu) - (y + r) * torch.log(r + mu)).sum(0)


def _irls(
    X: torch.Tensor, Y: torch.Tensor, sf: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, min_mu: float,
    tol: float, maxit: int,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``fitBeta`` for every gene, ``beta`` updated in place; returns R's iteration counts and last floored means."""
    n, p = X.shape
    G = Y.shape[1]
    XX = outer_rows(X)
    ridge = torch.eye(p, dtype=X.dtype, device=X.device) * RIDGE_NATURAL
    mu = torch.clamp(sf * torch.exp(X @ beta.T), min=min_mu)
    constant = _deviance_constant(Y, alpha)
    iterations = torch.zeros(G, dtype=torch.long, device=X.device)
    dev_old = torch.zeros(G, dtype=X.dtype, device=X.device)
    active = torch.arange(G, device=X.device)
    for t in range(maxit):
        if not active.numel():
            break
        iterations[active] += 1
        m, a, y = mu[:, active], alpha[active], Y[:, active]
        w = m / (1.0 + a * m)
        z = torch.log(m / sf) + (y - m) / m
        inverse, _ = spd_inverse(gram(XX, w, p) + ridge)
        beta_hat = (inverse @ ((w * z).T @ X).unsqueeze(-1)).squeeze(-1)
        large = (beta_hat.abs() > _LARGE).any(1) | ~torch.isfinite(beta_hat).all(1)
        beta[active] = beta_hat  # R keeps the step that left the bounds (optim then starts elsewhere)
        iterations[active[large]] = maxit
        keep = ~large
        active, beta_hat, a, y = active[keep], beta_hat[keep], a[keep], y[:, keep]
        m = torch.clamp(sf * torch.exp(X @ beta_hat.T), min=min_mu)
        mu[:, active] = m
        dev = _deviance(y, m, a, constant[active])
        conv = (dev - dev_old[active]).abs() / (dev.abs() + 0.1)
        failed = torch.isnan(conv)
        iterations[active[failed]] = maxit
        done = failed | ((conv < tol) if t > 0 else torch.zeros_like(failed))
        dev_old[active] = dev
        active = active[~done]
    return iterations, mu


def _hat_and_variance(
    X: torch.Tensor, mu_floored: torch.Tensor, alpha: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hat diagonals ``W½X(XᵀWX+Λ)⁻¹XᵀW½`` and the sandwich ``(XᵀWX+Λ)⁻¹XᵀWX(XᵀWX+Λ)⁻¹`` diagonal."""
    n, p = X.shape
    G = mu_floored.shape[1]
    XX = outer_rows(X)
    w = mu_floored / (1.0 + alpha * mu_floored)
    xtwx = gram(XX, w, p)
    inverse, _ = spd_inverse(xtwx + torch.eye(p, dtype=X.dtype, device=X.device) * RIDGE_NATURAL)
    hat = w * (XX @ inverse.reshape(G, p * p).T)
    variance = torch.diagonal(inverse @ xtwx @ inverse, dim1=1, dim2=2)
    return hat, variance


def _optim_row(y: np.ndarray, sf: np.ndarray, X: np.ndarray, alpha: float, start: np.ndarray) -> tuple[np.ndarray, bool]:
    """``fitNbinomGLMsOptim`` for one gene: log2-scale coefficients from ``start`` and whether optim converged.

    The objective is R's: the unfloored NB log-likelihood plus the ridge as a normal prior
    (``1e300`` where not finite). Its gradient is ``optim``'s numerical one for L-BFGS-B:
    central differences of ``ndeps = 1e-3``, cut at the bounds — the 2p points evaluated at once.
    """
    r = 1.0 / alpha
    log_binom = np.sum(gammaln(y + r) - gammaln(r) - gammaln(y + 1.0))
    lam = 1e-6
    p_count = start.size
    log_prior_const = -0.5 * np.log(2 * np.pi / lam) * p_count

    def objectives(points: np.ndarray) -> np.ndarray:  # points: k × p
        mu = sf * 2.0 ** (points @ X.T)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_like = log_binom + np.sum(r * np.log(r / (r + mu)) + xlogy(y, mu / (r + mu)), axis=1)
        value = -(log_like + log_prior_const - 0.5 * lam * np.sum(points**2, axis=1))
        return np.where(np.isfinite(value), value, 1e300)

    steps = np.arange(p_count)

    def value_and_gradient(p: np.ndarray) -> tuple[float, np.ndarray]:
        up = np.minimum(p + _NDEPS, _LARGE)
        down = np.maximum(p - _NDEPS, -_LARGE)
        points = np.repeat(p[None, :], 2 * p_count + 1, axis=0)
        points[1 + steps, steps] = up
        points[1 + p_count + steps, steps] = down
        values = objectives(points)  # p, then the 2p finite-difference points: one evaluation
        return float(values[0]), (values[1 : 1 + p_count] - values[1 + p_count :]) / (up - down)

    result = minimize(
        value_and_gradient, start, jac=True, method="L-BFGS-B", bounds=[(-_LARGE, _LARGE)] * p_count,
        options={"maxcor": 5, "ftol": 1e7 * np.finfo(float).eps, "gtol": 0.0, "maxiter": 100},
    )  # fmt: skip
    return result.x, bool(result.success)


def fit_nbinom_glm(
    counts: np.ndarray, size_factors: np.ndarray, design: np.ndarray, dispersions: np.ndarray, *, min_mu: float = 0.5,
    tol: float = 1e-8, maxit: int = 100, device: torch.device | str = "cpu",
) -> GlmFit:  # fmt: skip
    """R's ``fitNbinomGLMs(..., useOptim=TRUE)`` with ``betaPrior=FALSE`` for every gene (columns of ``counts``)."""
    counts = np.asarray(counts, dtype=np.float64)
    sf = np.asarray(size_factors, dtype=np.float64)
    X = np.asarray(design, dtype=np.float64)
    alpha = np.asarray(dispersions, dtype=np.float64)
    normed = counts / sf[:, None]
    if X.shape[1] == 1 and (X == 1).all():  # R's closed form for ~1: the log mean, no IRLS
        mean = normed.mean(0)
        mu = sf[:, None] * mean
        w = 1.0 / (1.0 / mu + alpha)
        ones = np.ones(mean.size, dtype=bool)
        return GlmFit(np.log(mean)[:, None], mu, w / w.sum(0), ones, np.ones(mean.size, dtype=np.int64))
    start = _initial_beta(X, normed)

    def t(array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float64, device=device)

    with torch.no_grad():
        Xt, sft, alphat = t(X), t(sf)[:, None], t(alpha)
        beta_t = t(start).clone()
        iterations, mu_last = _irls(Xt, t(counts), sft, alphat, beta_t, min_mu, tol, maxit)
        hat, variance = _hat_and_variance(Xt, mu_last, alphat)
        beta = beta_t.cpu().numpy()
        stable = np.isfinite(beta).all(1)
        optim_rows = (iterations >= maxit).cpu().numpy() | ~stable | (variance.cpu().numpy() <= 0).any(1)
        hat = hat.cpu().numpy()
        iterations = iterations.cpu().numpy()
    converged = ~optim_rows
    log2_beta = beta / np.log(2)
    for row in np.flatnonzero(optim_rows):
        first = log2_beta[row] if stable[row] and (np.abs(log2_beta[row]) < _LARGE).all() else start[row]
        par, ok = _optim_row(counts[:, row], sf, X, float(alpha[row]), first)
        beta[row] = par * np.log(2)
        converged[row] = ok
    mu = sf[:, None] * np.exp(X @ beta.T)
    return GlmFit(beta, mu, hat, converged, iterations)
