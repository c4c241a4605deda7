"""Where PyDESeq2's L-BFGS-B stops on a flat dispersion objective, so the Newton fit can match it.

PyDESeq2 minimises the dispersion objective with scipy's L-BFGS-B at its defaults
(``pgtol=1e-5``, ``factr=1e7``). On a well-curved objective it lands on the optimum,
which the batched Newton method finds too. Where the objective is flat (near-Poisson
genes, whose optimum is at or near ``min_disp``) it stops early, at a point set by
rounding noise in its gradient. These rules find such genes: those that certainly stop
at the start keep it; the ambiguous ones are handed to PyDESeq2's own per-gene fit.
"""

from __future__ import annotations

import numpy as np
import torch

from genexai.de.torch.nb import AlphaObjective, Work, take

__all__ = ["first_step_rule", "plateau_optimum"]

# scipy's L-BFGS-B defaults (pgtol, factr * machine eps), as PyDESeq2 calls it; and the
# margin by which a first step's relative decrease may exceed the ftol test and still
# be treated as a possible early stop.
_EPS = float(np.finfo(float).eps)
_LBFGSB_PGTOL = 1e-5
_LBFGSB_FTOL = 1e7 * _EPS
_EARLY_STOP_MARGIN = 10.0
# An optimum with alpha * max(mu) below this is on the near-Poisson plateau.
_PLATEAU_AMU = 1e-2


def first_step_rule(
    objective: AlphaObjective,
    work: Work,
    theta: torch.Tensor,
    g: torch.Tensor,
    pg: torch.Tensor,
    f: torch.Tensor,
    f_known: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Genes whose L-BFGS-B run surely stops at the start, and genes to hand to PyDESeq2.

    L-BFGS-B stops at the start when the projected gradient ``pg`` is <= pgtol, and after
    a first step of length ``|g|`` when that step's relative decrease is <= factr * eps.
    On such flat starts its answer is set by rounding noise in its gradient
    (~eps * psi(r) * r * sqrt(n), r = 1/alpha: it changes with 1e-13 changes of the
    means), not by the optimum. The objective values computed here are stored in ``f``
    (``f_known`` set) for the line search to reuse.

    Returns
    -------
    sure_stop, delegate : torch.Tensor
        Boolean masks over the genes of ``work``.
    """
    n_samples = work["y"].shape[0]
    r0 = torch.exp(-theta)
    noise = 2.0 * _EPS * torch.digamma(r0).abs() * r0 * n_samples**0.5
    sure_stop = pg.abs() + noise <= _LBFGSB_PGTOL
    delegate = ~sure_stop & (pg.abs() <= _LBFGSB_PGTOL + noise)
    # An early stop needs g^2 <~ ftol |f|, and |f| (a negative log-likelihood,
    # ~ a few units per sample) rarely exceeds 45 n: only such gradients are checked.
    small = (~sure_stop & ~delegate & (g.abs() <= 1e-3 * n_samples**0.5)).nonzero().squeeze(1)
    if small.numel():
        w = take(work, small)
        f0 = objective.value(theta[small], w)
        f[small], f_known[small] = f0, True  # reused by the line search
        f0 = f0 + torch.lgamma(w["y"] + 1.0).sum(0)  # PyDESeq2's nb_nll scale
        risky = g[small] ** 2 <= _EARLY_STOP_MARGIN * _LBFGSB_FTOL * torch.clamp(f0.abs(), min=1.0)
        delegate[small[risky]] = True
    return sure_stop, delegate


def plateau_optimum(
    theta: torch.Tensor, mu: torch.Tensor, ok: torch.Tensor, stopped_at_start: torch.Tensor
) -> torch.Tensor:
    """Converged genes whose optimum lies on the near-Poisson plateau (alpha * mu << 1 everywhere).

    The objective is so flat there that L-BFGS-B stops wherever its relative-decrease
    test first fires; PyDESeq2's own code decides for these few genes.
    """
    return ok & ~stopped_at_start & (torch.exp(theta) * mu.max(0).values <= _PLATEAU_AMU)
