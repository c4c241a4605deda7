"""The negative-binomial dispersion objective of DESeq2, batched over genes, with its derivatives.

Minimised in ``theta = log(alpha)``: NB negative log-likelihood + ``0.5 log det(X^T W X)``
(Cox-Reid adjustment) + ``(theta - log alpha_hat)^2 / (2 prior_var)`` (log-normal prior),
as ``pydeseq2.utils.fit_alpha_mle`` does, but evaluated without the catastrophic
cancellation of ``lgamma(y + 1/a) - lgamma(1/a)`` for near-Poisson genes.
"""

from __future__ import annotations

import torch

from genexai.de.torch.linalg import gram, spd_inverse

__all__ = ["AlphaObjective", "Work", "gamma_diffs", "take"]

#: Per-gene data of the genes still being fitted: counts ``y`` and means ``m`` (samples x
#: genes), ``th_hat`` (prior centre, log alpha_hat), ``sy`` = sum y, ``sylm`` = sum y log m.
Work = dict[str, torch.Tensor]

# Above this 1/alpha, the gamma-function differences below switch from the direct
# difference (absolute error ~ eps * lgamma(r), large) to Stirling/asymptotic series
# whose truncation error is below 1e-18 here.
_BIG_R = 1e4


def take(work: Work, sel: torch.Tensor) -> Work:
    """The genes ``sel`` (indices or mask) of every tensor of ``work``."""
    return {k: (v[:, sel] if v.dim() == 2 else v[sel]) for k, v in work.items()}


def gamma_diffs(y: torch.Tensor, r: torch.Tensor, kinds: tuple[str, ...]) -> dict[str, torch.Tensor]:
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


class AlphaObjective:
    """The dispersion objective of one chunk of genes, in ``theta = log(alpha)``.

    Parameters
    ----------
    XX : torch.Tensor
        Row outer products of the design matrix (:func:`~genexai.de.torch.linalg.outer_rows`).
    p : int
        Number of design columns.
    cr_reg, prior_reg : bool
        Add the Cox-Reid term / the log-normal prior.
    var : float
        Prior variance (1.0 when ``prior_reg`` is False; unused then).
    """

    def __init__(self, XX: torch.Tensor, p: int, cr_reg: bool, prior_reg: bool, var: float) -> None:
        self.XX, self.p, self.cr_reg, self.prior_reg, self.var = XX, p, cr_reg, prior_reg, var

    def value(self, theta: torch.Tensor, work: Work) -> torch.Tensor:
        """The objective at ``theta`` (one value per gene of ``work``)."""
        return self(theta, work, False)[0]

    def __call__(
        self, theta: torch.Tensor, work: Work, derivatives: bool, value: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Objective ``f`` at theta and, optionally, its first two derivatives ``g``, ``h``.

        nll = sum_i lgamma(r) - lgamma(y+r) + (y+r) log(1 + a m) - y log(a m)  (r = 1/a),
        which is pydeseq2.utils.nb_nll up to the alpha-free lgamma(y+1), written
        without its large cancelling terms r log a and (y+r) log(r+m).
        """
        y, m = work["y"], work["m"]
        a = torch.exp(theta)
        r = 1.0 / a
        am = m * a
        l1p = torch.log1p(am)
        yr = y + r
        W = m / (1.0 + am) if self.cr_reg or derivatives else None
        f = g = h = None
        L = Minv = None
        if self.cr_reg:
            Minv, L = spd_inverse(gram(self.XX, W, self.p))
        kinds = (("lgamma",) if value else ()) + (("digamma", "trigamma") if derivatives else ())
        diffs = gamma_diffs(y, r, kinds)
        if value:
            f = (yr * l1p - diffs["lgamma"]).sum(0) - theta * work["sy"] - work["sylm"]
            if self.cr_reg:
                f = f + torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)  # 0.5 log det M
            if self.prior_reg:
                f = f + (theta - work["th_hat"]) ** 2 / (2.0 * self.var)
        if not derivatives:
            return f, g, h
        g, h = self._derivatives(theta, work["th_hat"], y, m, a, r, am, l1p, W, diffs, Minv)
        return f, g, h

    def _derivatives(
        self,
        theta: torch.Tensor,
        th_hat: torch.Tensor,
        y: torch.Tensor,
        m: torch.Tensor,
        a: torch.Tensor,
        r: torch.Tensor,
        am: torch.Tensor,
        l1p: torch.Tensor,
        W: torch.Tensor,
        diffs: dict[str, torch.Tensor],
        Minv: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """First and second derivatives in theta, from the terms :meth:`__call__` computed."""
        # r * d nll/dr and r² d² nll/dr², then the chain rule to theta (dr/dtheta = -r):
        # d/dtheta = -r d/dr, d²/dtheta² = r² d²/dr² + r d/dr.  Note m/(1+am) = W.
        resid = (y - m) / (1.0 + am)
        r_fr = (l1p - diffs["digamma"]).sum(0) * r + resid.sum(0)
        r2_frr = diffs["trigamma"].sum(0) * r**2 - (W + resid * W / m).sum(0)
        g = -r_fr
        h = r2_frr + r_fr
        if self.cr_reg:
            W2 = W * W
            M1 = gram(self.XX, -W2, self.p)
            M2 = gram(self.XX, 2.0 * W2 * W, self.p)
            A = Minv @ M1
            ga = 0.5 * torch.diagonal(A, dim1=-2, dim2=-1).sum(-1)
            ha = 0.5 * (
                torch.diagonal(Minv @ M2, dim1=-2, dim2=-1).sum(-1)
                - torch.diagonal(A @ A, dim1=-2, dim2=-1).sum(-1)
            )
            g = g + a * ga
            h = h + a**2 * ha + a * ga
        if self.prior_reg:
            g = g + (theta - th_hat) / self.var
            h = h + 1.0 / self.var
        return g, h
