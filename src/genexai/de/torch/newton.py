"""Batched projected Newton method for the dispersion objective, with Armijo backtracking.

Every gene's one-dimensional problem in ``theta = log(alpha)`` on ``[lo, hi]`` is solved
at once; genes leave the working set as soon as they meet the stopping rule. Near the
optimum (convex, short step) the Newton step is taken as is; otherwise an Armijo
backtracking line search guarantees a decrease, like L-BFGS-B's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from genexai.de.torch.nb import AlphaObjective, Work, take

__all__ = ["FirstStepRule", "newton_alpha"]

# Newton steps (in log alpha) up to this length are taken without a line search.
_TRUST_STEP = 0.5

#: ``(objective, work, theta, g, pg, f, f_known) -> (sure_stop, delegate)`` applied at the
#: first iteration (see :func:`genexai.de.torch.lbfgsb.first_step_rule`).
FirstStepRule = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def newton_direction(
    theta: torch.Tensor, g: torch.Tensor, h: torch.Tensor, lo: float, hi: float, tol: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Projected gradient, step, and the genes done (``flat`` gradient, ``last`` short step)."""
    # Projected gradient: zero where a bound blocks the descent direction.
    pg = torch.where(((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0)), torch.zeros_like(g), g)
    # Newton where convex; elsewhere (e.g. the near-Poisson plateau, where the
    # objective is concave in log alpha) a long step downhill, cut by the line search.
    step = torch.where(h > 0, -g / h, -2.0 * torch.sign(g))
    # Done: flat projected gradient, or a Newton step so small that, Newton converging
    # quadratically, taking it lands within ~step² of the optimum (1e-8 in log alpha).
    flat = pg.abs() <= tol
    last = ~flat & (h > 0) & (step.abs() <= 1e-4)
    return pg, step, flat, last


def armijo(
    objective: AlphaObjective,
    work: Work,
    searched: torch.Tensor,
    theta: torch.Tensor,
    step: torch.Tensor,
    g: torch.Tensor,
    f: torch.Tensor,
    f_known: torch.Tensor,
    new_theta: torch.Tensor,
    lo: float,
    hi: float,
) -> torch.Tensor:
    """Backtracking line search on the genes ``searched``; returns those that found no decrease.

    Accepted points are written to ``new_theta`` and their values to ``f``.
    """
    unknown = searched[~f_known[searched]]
    if unknown.numel():
        f[unknown] = objective.value(theta[unknown], take(work, unknown))
        f_known[unknown] = True
    t = torch.ones(searched.numel(), dtype=theta.dtype, device=theta.device)
    pending = torch.arange(searched.numel(), device=theta.device)
    for _ls in range(30):
        sel = searched[pending]
        trial = torch.clamp(theta[sel] + t[pending] * step[sel], lo, hi)
        f_trial = objective.value(trial, take(work, sel))
        good = f_trial <= f[sel] + 1e-4 * g[sel] * (trial - theta[sel])
        new_theta[sel[good]] = trial[good]
        f[sel[good]] = f_trial[good]
        pending = pending[~good]
        if not pending.numel():
            break
        t[pending] *= 0.5
    return searched[pending]


def line_search(
    objective: AlphaObjective,
    work: Work,
    theta: torch.Tensor,
    step: torch.Tensor,
    g: torch.Tensor,
    h: torch.Tensor,
    f: torch.Tensor,
    f_known: torch.Tensor,
    lo: float,
    hi: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One move: the Newton step where trusted, else Armijo; returns ``new_theta, step, trusted, stalled``."""
    step = torch.clamp(step, -2.0, 2.0)
    trusted = (h > 0) & (step.abs() <= _TRUST_STEP)
    new_theta = torch.where(trusted, torch.clamp(theta + step, lo, hi), theta)
    searched = (~trusted).nonzero().squeeze(1)
    stalled = torch.zeros_like(trusted)
    if searched.numel():
        stalled[armijo(objective, work, searched, theta, step, g, f, f_known, new_theta, lo, hi)] = True
    return new_theta, step, trusted, stalled


def newton_alpha(
    objective: AlphaObjective,
    work: Work,
    theta_all: torch.Tensor,
    lo: float,
    hi: float,
    *,
    tol: float,
    maxiter: int,
    first_step: FirstStepRule | None,
    reasons: dict[str, int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Minimise ``objective`` per gene from ``theta_all`` (the clamped start, updated in place).

    Returns
    -------
    theta_all : torch.Tensor
        The end point of every gene.
    ok : torch.Tensor
        Genes that met the stopping rule (the others go to PyDESeq2's per-gene fit).
    stopped_at_start : torch.Tensor
        Genes that ``first_step`` said surely stop at the start.
    """
    G = theta_all.shape[0]
    device = theta_all.device
    ok = torch.zeros(G, dtype=torch.bool, device=device)
    stopped_at_start = torch.zeros(G, dtype=torch.bool, device=device)
    active = torch.arange(G, device=device)
    theta = theta_all.clone()
    f = torch.zeros_like(theta)
    f_known = torch.zeros(G, dtype=torch.bool, device=device)
    for it in range(maxiter):
        _, g, h = objective(theta, work, True, value=False)
        pg, step, flat, last = newton_direction(theta, g, h, lo, hi, tol)
        finished = flat | last
        if it == 0 and first_step is not None:
            sure_stop, delegate = first_step(objective, work, theta, g, pg, f, f_known)
            stopped_at_start[active[sure_stop]] = True
            flat = (flat & ~delegate) | sure_stop
            last = last & ~flat & ~delegate
            if delegate.any():
                theta_all[active[delegate]] = theta[delegate]  # ok stays False
                reasons["flat_start"] += int(delegate.sum())
            finished = flat | last | delegate
        if finished.any():
            theta = torch.where(last, torch.clamp(theta + step, lo, hi), theta)
            theta_all[active[flat | last]] = theta[flat | last]
            ok[active[flat | last]] = True
            keep = ~finished
            active, theta, f, f_known, step, g, h = (t[keep] for t in (active, theta, f, f_known, step, g, h))
            work = take(work, keep)
        if not active.numel():
            break
        new_theta, step, trusted, stalled = line_search(objective, work, theta, step, g, h, f, f_known, lo, hi)
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
            work = take(work, keep)
        if not active.numel():
            break
    if active.numel():  # out of iterations: handed to PyDESeq2's per-gene fit
        theta_all[active] = theta
    return theta_all, ok, stopped_at_start
