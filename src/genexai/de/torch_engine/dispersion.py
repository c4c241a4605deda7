"""Batched MAP dispersion fit (projected Newton with Armijo backtracking, L-BFGS-B-parity early stops) for a chunk of genes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from genexai.de.torch_engine.numerics import _EARLY_STOP_MARGIN, _EPS, _LBFGSB_FTOL, _LBFGSB_PGTOL, _PLATEAU_AMU, _TRUST_STEP, _gamma_diffs, _spd_inverse

if TYPE_CHECKING:
    from genexai.de.torch_engine.inference import TorchInference

__all__ = ["alpha_chunk"]


def alpha_chunk(
    self: TorchInference,
    counts: np.ndarray,
    design_matrix: np.ndarray,
    mu: np.ndarray,
    alpha_hat: np.ndarray,
    min_disp: float,
    max_disp: float,
    prior_disp_var: float | None,
    cr_reg: bool,
    prior_reg: bool,
) -> tuple[np.ndarray, np.ndarray]:
    X = self._t(design_matrix)
    p = X.shape[1]
    XX = self._outer_rows(X)
    Y = self._t(counts)
    MU = self._t(mu)
    G = Y.shape[1]
    lo, hi = float(np.log(min_disp)), float(np.log(max_disp))
    log_hat = self._t(np.log(alpha_hat))
    var = float(prior_disp_var) if prior_reg else 1.0

    # Parts of the NB log-likelihood that do not depend on alpha, per gene.
    sum_y = Y.sum(0)
    sum_ylogm = torch.xlogy(Y, MU).sum(0)

    def objective(theta, y, m, th_hat, sy, sylm, derivatives, value=True):
        """Objective in theta = log(alpha) and, optionally, its first two derivatives.

        nll = sum_i lgamma(r) - lgamma(y+r) + (y+r) log(1 + a m) - y log(a m)  (r = 1/a),
        which is pydeseq2.utils.nb_nll up to the alpha-free lgamma(y+1), written
        without its large cancelling terms r log a and (y+r) log(r+m).
        """
        a = torch.exp(theta)
        r = 1.0 / a
        am = m * a
        l1p = torch.log1p(am)
        yr = y + r
        W = m / (1.0 + am) if cr_reg or derivatives else None
        f = g = h = None
        L = None
        if cr_reg:
            Minv, L = _spd_inverse(self._gram(XX, W, p))
        kinds = (("lgamma",) if value else ()) + (("digamma", "trigamma") if derivatives else ())
        diffs = _gamma_diffs(y, r, kinds)
        if value:
            f = (yr * l1p - diffs["lgamma"]).sum(0) - theta * sy - sylm
            if cr_reg:
                f = f + torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)  # 0.5 log det M
            if prior_reg:
                f = f + (theta - th_hat) ** 2 / (2.0 * var)
        if not derivatives:
            return f, g, h
        # r * d nll/dr and r² d² nll/dr², then the chain rule to theta (dr/dtheta = -r):
        # d/dtheta = -r d/dr, d²/dtheta² = r² d²/dr² + r d/dr.  Note m/(1+am) = W.
        resid = (y - m) / (1.0 + am)
        r_fr = (l1p - diffs["digamma"]).sum(0) * r + resid.sum(0)
        r2_frr = diffs["trigamma"].sum(0) * r**2 - (W + resid * W / m).sum(0)
        g = -r_fr
        h = r2_frr + r_fr
        if cr_reg:
            W2 = W * W
            M1 = self._gram(XX, -W2, p)
            M2 = self._gram(XX, 2.0 * W2 * W, p)
            A = Minv @ M1
            ga = 0.5 * torch.diagonal(A, dim1=-2, dim2=-1).sum(-1)
            ha = 0.5 * (
                torch.diagonal(Minv @ M2, dim1=-2, dim2=-1).sum(-1)
                - torch.diagonal(A @ A, dim1=-2, dim2=-1).sum(-1)
            )
            g = g + a * ga
            h = h + a**2 * ha + a * ga
        if prior_reg:
            g = g + (theta - th_hat) / var
            h = h + 1.0 / var
        return f, g, h

    # Batched projected Newton in theta. The working set shrinks as genes finish.
    theta_all = torch.clamp(log_hat, lo, hi)
    ok = torch.zeros(G, dtype=torch.bool, device=X.device)
    stopped_at_start = torch.zeros(G, dtype=torch.bool, device=X.device)
    n_samples = Y.shape[0]
    active = torch.arange(G, device=X.device)
    work = {"y": Y, "m": MU, "th_hat": log_hat, "sy": sum_y, "sylm": sum_ylogm}
    theta = theta_all.clone()
    f = torch.zeros_like(theta)
    f_known = torch.zeros(G, dtype=torch.bool, device=X.device)

    def value(sel: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
        w = {k: (v[:, sel] if v.dim() == 2 else v[sel]) for k, v in work.items()}
        return objective(at, w["y"], w["m"], w["th_hat"], w["sy"], w["sylm"], False)[0]

    for it in range(self.alpha_maxiter):
        _, g, h = objective(theta, work["y"], work["m"], work["th_hat"], work["sy"], work["sylm"], True, value=False)
        # Projected gradient: zero where a bound blocks the descent direction.
        pg = torch.where(((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0)), torch.zeros_like(g), g)
        # Newton where convex; elsewhere (e.g. the near-Poisson plateau, where the
        # objective is concave in log alpha) a long step downhill, cut by the line search.
        step = torch.where(h > 0, -g / h, -2.0 * torch.sign(g))
        # Done: flat projected gradient, or a Newton step so small that, Newton converging
        # quadratically, taking it lands within ~step² of the optimum (1e-8 in log alpha).
        flat = pg.abs() <= self.alpha_tol
        last = ~flat & (h > 0) & (step.abs() <= 1e-4)
        finished = flat | last
        if it == 0 and self.match_lbfgsb:
            # PyDESeq2's L-BFGS-B (scipy defaults) stops at the start when the projected
            # gradient is <= pgtol, and after a first step of length |g| when that step's
            # relative decrease is <= factr * eps. On such flat starts its answer is set
            # by rounding noise in its gradient (~eps * psi(r) * r * sqrt(n), r = 1/alpha:
            # it changes with 1e-13 changes of the means), not by the optimum. Genes that
            # surely stop at the start keep it; the ambiguous ones are handed to
            # PyDESeq2's own per-gene code (not ok here -> alpha_mle refits them).
            r0 = torch.exp(-theta)
            noise = 2.0 * _EPS * torch.digamma(r0).abs() * r0 * n_samples**0.5
            sure_stop = pg.abs() + noise <= _LBFGSB_PGTOL
            delegate = ~sure_stop & (pg.abs() <= _LBFGSB_PGTOL + noise)
            # An early stop needs g^2 <~ ftol |f|, and |f| (a negative log-likelihood,
            # ~ a few units per sample) rarely exceeds 45 n: only such gradients are checked.
            small = (~sure_stop & ~delegate & (g.abs() <= 1e-3 * n_samples**0.5)).nonzero().squeeze(1)
            if small.numel():
                w = {k: (v[:, small] if v.dim() == 2 else v[small]) for k, v in work.items()}
                f0 = objective(theta[small], w["y"], w["m"], w["th_hat"], w["sy"], w["sylm"], False)[0]
                f[small], f_known[small] = f0, True  # reused by the line search
                f0 = f0 + torch.lgamma(w["y"] + 1.0).sum(0)  # PyDESeq2's nb_nll scale
                risky = g[small] ** 2 <= _EARLY_STOP_MARGIN * _LBFGSB_FTOL * torch.clamp(f0.abs(), min=1.0)
                delegate[small[risky]] = True
            stopped_at_start[active[sure_stop]] = True
            flat = (flat & ~delegate) | sure_stop
            last = last & ~flat & ~delegate
            if delegate.any():
                theta_all[active[delegate]] = theta[delegate]  # ok stays False
                self.alpha_fallback_reasons["flat_start"] += int(delegate.sum())
            finished = flat | last | delegate
        if finished.any():
            theta = torch.where(last, torch.clamp(theta + step, lo, hi), theta)
            theta_all[active[flat | last]] = theta[flat | last]
            ok[active[flat | last]] = True
            keep = ~finished
            active, theta, f, f_known, step, g, h = (
                t[keep] for t in (active, theta, f, f_known, step, g, h)
            )
            work = {k: (v[:, keep] if v.dim() == 2 else v[keep]) for k, v in work.items()}
        if not active.numel():
            break
        step = torch.clamp(step, -2.0, 2.0)
        # Near the optimum (convex, short step) the Newton step is taken as is; otherwise
        # an Armijo backtracking line search guarantees a decrease, like L-BFGS-B's.
        trusted = (h > 0) & (step.abs() <= _TRUST_STEP)
        new_theta = torch.where(trusted, torch.clamp(theta + step, lo, hi), theta)
        searched = (~trusted).nonzero().squeeze(1)
        stalled = torch.zeros_like(trusted)
        if searched.numel():
            unknown = searched[~f_known[searched]]
            if unknown.numel():
                f[unknown] = value(unknown, theta[unknown])
                f_known[unknown] = True
            t = torch.ones(searched.numel(), dtype=theta.dtype, device=theta.device)
            pending = torch.arange(searched.numel(), device=theta.device)
            for _ls in range(30):
                sel = searched[pending]
                trial = torch.clamp(theta[sel] + t[pending] * step[sel], lo, hi)
                f_trial = value(sel, trial)
                good = f_trial <= f[sel] + 1e-4 * g[sel] * (trial - theta[sel])
                new_theta[sel[good]] = trial[good]
                f[sel[good]] = f_trial[good]
                pending = pending[~good]
                if not pending.numel():
                    break
                t[pending] *= 0.5
            stalled[searched[pending]] = True
        f_known = f_known & ~trusted
        moved = (new_theta - theta).abs()
        theta = new_theta
        # No decrease found although the Newton step is short: flat to rounding, i.e. at
        # the minimum. A stall on a long step (an odd objective) goes to PyDESeq2's fit.
        tiny = (~stalled & (moved <= 1e-10)) | (stalled & (h > 0) & (step.abs() <= 1e-3))
        stop = tiny | stalled
        if stop.any():
            theta_all[active[stop]] = theta[stop]
            ok[active[tiny]] = True
            keep = ~stop
            active, theta, f, f_known = (t_[keep] for t_ in (active, theta, f, f_known))
            work = {k: (v[:, keep] if v.dim() == 2 else v[keep]) for k, v in work.items()}
        if not active.numel():
            break
    if active.numel():  # out of iterations: handed to PyDESeq2's per-gene fit
        theta_all[active] = theta
    if self.match_lbfgsb:
        # Optimum on the near-Poisson plateau (alpha * mu << 1 for every sample): the
        # objective is so flat there that L-BFGS-B stops wherever its relative-decrease
        # test first fires; let PyDESeq2's code decide for these few genes.
        plateau = ok & ~stopped_at_start & (torch.exp(theta_all) * MU.max(0).values <= _PLATEAU_AMU)
        ok &= ~plateau
        self.alpha_fallback_reasons["plateau_optimum"] += int(plateau.sum())
    return torch.exp(theta_all).cpu().numpy(), ok.cpu().numpy()

# -------------------------------------------------------------- Wald test
