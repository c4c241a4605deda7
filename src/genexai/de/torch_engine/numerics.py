"""Numerics of the batched negative-binomial fits: L-BFGS-B-parity constants, lgamma differences without cancellation, batched Cholesky/SPD inverse."""

from __future__ import annotations

import numpy as np
import torch


# scipy's L-BFGS-B defaults (pgtol, factr * machine eps), as PyDESeq2 calls it; and the
# margin by which a first step's relative decrease may exceed the ftol test and still
# be treated as a possible early stop.
_EPS = float(np.finfo(float).eps)
_LBFGSB_PGTOL = 1e-5
_LBFGSB_FTOL = 1e7 * _EPS
_EARLY_STOP_MARGIN = 10.0
# An optimum with alpha * max(mu) below this is on the near-Poisson plateau.
_PLATEAU_AMU = 1e-2
# Newton steps (in log alpha) up to this length are taken without a line search.
_TRUST_STEP = 0.5

# Above this 1/alpha, the gamma-function differences below switch from the direct
# difference (absolute error ~ eps * lgamma(r), large) to Stirling/asymptotic series
# whose truncation error is below 1e-18 here.
_BIG_R = 1e4


def _gamma_diffs(y: torch.Tensor, r: torch.Tensor, kinds: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Differences of gamma-family functions between ``y + r`` and ``r`` (``r`` per gene).

    ``"lgamma"``: lgamma(y+r) - lgamma(r); ``"digamma"``: psi(y+r) - psi(r);
    ``"trigamma"``: psi1(r) - psi1(y+r). For near-Poisson genes (``r = 1/alpha`` huge)
    the direct differences cancel catastrophically (lgamma(1e8) ~ 2e9); there the
    asymptotic expansions, written in terms of ``y`` so that nothing cancels, are used.
    """
    s = y + r
    out = {}
    if "lgamma" in kinds:
        out["lgamma"] = torch.lgamma(s) - torch.lgamma(r)
    if "digamma" in kinds:
        out["digamma"] = torch.digamma(s) - torch.digamma(r)
    if "trigamma" in kinds:
        out["trigamma"] = torch.polygamma(1, r) - torch.polygamma(1, s)
    big = (r >= _BIG_R).nonzero().squeeze(1)
    if big.numel():
        yb, rb = y[:, big], r[big]
        sb = yb + rb
        q = yb / rb
        l1q = torch.log1p(q)
        rs = rb * sb
        if "lgamma" in kinds:  # Stirling: (x-1/2)log x - x + 1/(12x) - 1/(360x^3)
            out["lgamma"][:, big] = (
                (rb - 0.5) * l1q + yb * torch.log(sb) - yb - yb / (12.0 * rs)
                + yb * (sb * sb + rs + rb * rb) / (360.0 * rs**3)
            )  # fmt: skip
        if "digamma" in kinds:  # psi(x) ~ log x - 1/(2x) - 1/(12x^2)
            out["digamma"][:, big] = l1q + yb / (2.0 * rs) + yb * (sb + rb) / (12.0 * rs**2)
        if "trigamma" in kinds:  # psi1(x) ~ 1/x + 1/(2x^2) + 1/(6x^3)
            out["trigamma"][:, big] = (
                yb / rs + yb * (sb + rb) / (2.0 * rs**2) + yb * (sb * sb + rs + rb * rb) / (6.0 * rs**3)
            )
    return out


def _cholesky(M: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of a batch of small SPD matrices (``genes x p x p``).

    Written out over the ``p`` columns so that each step is one vectorised operation
    over all genes: LAPACK's batched routines pay a per-matrix call overhead that
    dominates for 2 x 2 ... 10 x 10 matrices. Non-positive-definite matrices give NaN.
    """
    p = M.shape[-1]
    L = torch.zeros_like(M)
    for j in range(p):
        d = torch.sqrt(M[:, j, j] - (L[:, j, :j] ** 2).sum(-1))
        L[:, j, j] = d
        if j + 1 < p:
            L[:, j + 1 :, j] = (M[:, j + 1 :, j] - (L[:, j + 1 :, :j] * L[:, j, None, :j]).sum(-1)) / d[:, None]
    return L


def _spd_inverse(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of a batch of small SPD matrices via Cholesky; returns ``(inverse, L)``."""
    L = _cholesky(M)
    p = M.shape[-1]
    Li = torch.zeros_like(L)
    for i in range(p):
        Li[:, i, i] = 1.0 / L[:, i, i]
        for j in range(i):
            Li[:, i, j] = -(L[:, i, j:i] * Li[:, j:i, j]).sum(-1) / L[:, i, i]
    return Li.transpose(1, 2) @ Li, L
