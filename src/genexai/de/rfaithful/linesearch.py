"""DESeq2's dispersion optimiser (``fitDisp``, ``fitDispGrid`` in DESeq2.cpp), batched over genes.

R maximises the Cox–Reid-adjusted (log-)posterior of ``a = log α`` per gene by gradient
ascent with an Armijo line search: step ``κ·dlp`` (``κ₀ = 1``), accepted when the posterior
rises by at least ``1e-4·κ·dlp²``, else ``κ`` halves; after an accepted step ``κ`` grows by
10 % (at most ``κ₀``) and halves every 5 accepted steps; ``a`` is kept within [−30, 10]; it
stops when an accepted step gains less than ``tol`` or ``a`` falls below ``min_log_alpha``,
or after ``maxit`` steps. Genes that did not converge are refitted on a grid of 20 values of
``log α`` from ``log 1e-8`` to ``log max(10, n)`` and a 20-point fine grid around the best.
PyDESeq2 optimises the same function with L-BFGS-B, which stops elsewhere on flat
posteriors (90th percentile 4 % off R's gene-wise estimates on pasilla); this is R's path,
evaluated for all genes at once (each gene's steps are exactly its own).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import digamma, gammaln

__all__ = ["DispersionFit", "fit_dispersions", "grid_dispersions", "log_posterior"]

_ARMIJO = 1e-4


class DispersionFit(NamedTuple):
    """Per gene: the fitted ``log α``, the steps taken, and the posterior before and after."""

    log_alpha: np.ndarray
    iterations: np.ndarray
    initial_lp: np.ndarray
    last_lp: np.ndarray


class _Prior(NamedTuple):
    mean: np.ndarray | None  # per gene; None: no prior
    variance: float


def _weights(mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 / mu + alpha)


def log_posterior(a: np.ndarray, y: np.ndarray, mu: np.ndarray, x: np.ndarray, prior: _Prior) -> np.ndarray:
    """Cox–Reid-adjusted NB log-likelihood of ``log α = a`` per gene (columns of ``y``, ``mu``), plus the log-normal prior."""
    alpha = np.exp(a)
    b = np.einsum("np,ng,nq->gpq", x, _weights(mu, alpha), x)
    cr = -0.5 * np.log(np.linalg.det(b))
    r = 1.0 / alpha
    ll = np.sum(gammaln(y + r) - gammaln(r) - y * np.log(mu + r) - r * np.log1p(mu * alpha), axis=0)
    out = ll + cr
    if prior.mean is not None:
        out = out - 0.5 * (a - prior.mean) ** 2 / prior.variance
    return out


def _dlog_posterior(a: np.ndarray, y: np.ndarray, mu: np.ndarray, x: np.ndarray, prior: _Prior) -> np.ndarray:
    """d log posterior / d log α."""
    alpha = np.exp(a)
    w_inv = 1.0 / mu + alpha
    b = np.einsum("np,ng,nq->gpq", x, 1.0 / w_inv, x)
    db = np.einsum("np,ng,nq->gpq", x, -(w_inv**-2), x)
    cr = -0.5 * np.trace(np.linalg.solve(b, db), axis1=1, axis2=2)
    r = 1.0 / alpha
    ll = r**2 * np.sum(
        digamma(r) + np.log1p(mu * alpha) - mu * alpha / (1.0 + mu * alpha) - digamma(y + r) + y / (mu + r), axis=0
    )
    out = (ll + cr) * alpha
    if prior.mean is not None:
        out = out - (a - prior.mean) / prior.variance
    return out


def fit_dispersions(
    y: np.ndarray, mu: np.ndarray, x: np.ndarray, log_alpha: np.ndarray, *, min_log_alpha: float,
    prior_mean: np.ndarray | None = None, prior_variance: float = 1.0, kappa_0: float = 1.0, tol: float = 1e-6,
    maxit: int = 100,
) -> DispersionFit:  # fmt: skip
    """R's ``fitDisp`` for every gene (columns of the samples × genes ``y`` and ``mu``) from ``log_alpha``."""
    y, mu, x = np.asarray(y, np.float64), np.asarray(mu, np.float64), np.asarray(x, np.float64)
    a = np.asarray(log_alpha, np.float64).copy()
    n_genes = a.size
    prior = _Prior(None if prior_mean is None else np.asarray(prior_mean, np.float64), float(prior_variance))

    def gene(values: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
        return None if values is None else values[idx]

    lp = log_posterior(a, y, mu, x, prior)
    dlp = _dlog_posterior(a, y, mu, x, prior)
    initial_lp = lp.copy()
    kappa = np.full(n_genes, kappa_0)
    iterations = np.zeros(n_genes, dtype=np.int64)
    accepted = np.zeros(n_genes, dtype=np.int64)
    active = np.ones(n_genes, dtype=bool)
    for _ in range(maxit):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        iterations[idx] += 1
        a_i, d_i, k_i = a[idx], dlp[idx], kappa[idx]
        proposal = a_i + k_i * d_i
        k_i = np.where(proposal < -30.0, (-30.0 - a_i) / d_i, k_i)
        k_i = np.where(proposal > 10.0, (10.0 - a_i) / d_i, k_i)
        step = a_i + k_i * d_i
        sub = _Prior(gene(prior.mean, idx), prior.variance)
        lp_step = log_posterior(step, y[:, idx], mu[:, idx], x, sub)
        accept = -lp_step <= -lp[idx] - k_i * _ARMIJO * d_i**2
        kappa[idx] = np.where(accept, k_i, k_i / 2.0)
        ok = idx[accept]
        if ok.size:
            accepted[ok] += 1
            a[ok] = step[accept]
            change = lp_step[accept] - lp[ok]
            converged = change < tol
            lp[ok[converged]] = lp_step[accept][converged]
            fell = ~converged & (a[ok] < min_log_alpha)
            active[ok[converged | fell]] = False
            go = ok[~converged & ~fell]
            if go.size:
                lp[go] = lp_step[accept][~converged & ~fell]
                dlp[go] = _dlog_posterior(a[go], y[:, go], mu[:, go], x, _Prior(gene(prior.mean, go), prior.variance))
                kappa[go] = np.minimum(kappa[go] * 1.1, kappa_0)
                halve = accepted[go] % 5 == 0
                kappa[go[halve]] /= 2.0
    return DispersionFit(a, iterations, initial_lp, lp)


def grid_dispersions(
    y: np.ndarray, mu: np.ndarray, x: np.ndarray, *, prior_mean: np.ndarray | None = None, prior_variance: float = 1.0
) -> np.ndarray:
    """R's ``fitDispGridWrapper``: the best of 20 ``log α`` from log 1e-8 to log max(10, n), then of 20 around it; returns α."""
    y, mu, x = np.asarray(y, np.float64), np.asarray(mu, np.float64), np.asarray(x, np.float64)
    n_genes = y.shape[1]
    grid = np.linspace(np.log(1e-8), np.log(max(10, y.shape[0])), 20)
    delta = grid[1] - grid[0]
    prior = _Prior(None if prior_mean is None else np.asarray(prior_mean, np.float64), float(prior_variance))
    coarse = np.stack([log_posterior(np.full(n_genes, g), y, mu, x, prior) for g in grid])
    best = grid[np.argmax(coarse, axis=0)]
    fine = np.linspace(best - delta, best + delta, 20)  # [20, genes]
    values = np.stack([log_posterior(fine[t], y, mu, x, prior) for t in range(20)])
    return np.exp(fine[np.argmax(values, axis=0), np.arange(n_genes)])
