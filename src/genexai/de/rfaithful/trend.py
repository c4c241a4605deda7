"""DESeq2's parametric dispersion trend, exactly as R fits it (``parametricDispersionFit``).

PyDESeq2 fits the same curve ``a0 + a1/μ`` but by another route: it starts from (1, 1),
drops genes after each fit rather than before it, and hands the gamma GLM to its own
solver, so on pasilla its coefficients are (0.01480, 2.312) where R's are (0.01396, 2.723)
— 7 % apart in the fitted dispersions, 3 % in the final ones. R's procedure, reproduced here:

* the genes used are those not all-zero with a gene-wise estimate ``> 100·minDisp``;
* starting from ``(asymptDisp, extraPois) = (0.1, 1)``, each iteration keeps the genes whose
  ratio ``dispGeneEst / (a0 + a1/baseMean)`` lies in ``(1e-4, 15)`` under the *current*
  coefficients, and fits ``glm(disp ~ I(1/mean), family = Gamma(link = "identity"),
  start = coefs)`` by R's IRLS (:func:`gamma_identity_glm`);
* it stops when ``Σ log(new/old)² < 1e-6`` and the GLM converged, fails when a
  coefficient is not positive or after 11 iterations (R then switches to a local fit,
  which needs locfit; here the caller falls back to the mean fit, with a warning).

The variance of the log residuals that drives the prior and the outlier rule,
``varLogDispEsts``, is ``mad(log dispGeneEst − log dispFit)²`` over the genes with a
gene-wise estimate ``≥ 100·minDisp`` (R's ``dispersionFunction<-``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import polygamma

__all__ = ["TrendFitError", "dispersion_prior_variance", "gamma_identity_glm", "log_dispersion_variance", "parametric_trend"]


class TrendFitError(RuntimeError):
    """The parametric fit failed where R's does (R then fits a local trend instead)."""


def _gamma_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    ratio = np.where(y == 0, 1.0, y / mu)
    return float(np.sum(-2.0 * (np.log(ratio) - (y - mu) / mu)))


def gamma_identity_glm(
    x: np.ndarray, y: np.ndarray, start: np.ndarray, epsilon: float = 1e-8, maxit: int = 25
) -> tuple[np.ndarray, bool]:
    """R's ``glm.fit`` for ``family = Gamma(link = "identity")`` from ``start``: coefficients and whether it converged.

    Identity link: working response ``z = y`` and working weights ``1/μ``; weighted least
    squares each step; convergence when ``|dev − dev_old| / (|dev| + 0.1) < epsilon``; a step
    giving invalid means (``μ ≤ 0``) or an infinite deviance is halved towards the last
    coefficients, as R does.
    """
    coef = np.asarray(start, dtype=np.float64)
    mu = x @ coef
    if not (np.isfinite(mu).all() and (mu > 0).all()):
        raise TrendFitError("cannot find valid starting values for the gamma GLM")
    dev_old = _gamma_deviance(y, mu)
    coef_old = None
    for _ in range(maxit):
        w = 1.0 / mu
        new = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)[0]
        mu = x @ new
        dev = _gamma_deviance(y, mu) if (mu > 0).all() else np.inf
        halvings = 0
        while not (np.isfinite(dev) and np.isfinite(mu).all() and (mu > 0).all()):
            if coef_old is None or halvings >= maxit:
                raise TrendFitError("the gamma GLM found no valid step")
            new = (new + coef_old) / 2.0
            mu = x @ new
            dev = _gamma_deviance(y, mu) if (mu > 0).all() else np.inf
            halvings += 1
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            return new, True
        dev_old, coef, coef_old = dev, new, new
    return coef, False


def parametric_trend(means: np.ndarray, disps: np.ndarray) -> np.ndarray:
    """``(asymptDisp, extraPois)`` of R's ``parametricDispersionFit`` on the genes given (see the module docstring)."""
    means, disps = np.asarray(means, dtype=np.float64), np.asarray(disps, dtype=np.float64)
    coefs = np.array([0.1, 1.0])
    for _ in range(11):
        residuals = disps / (coefs[0] + coefs[1] / means)
        good = (residuals > 1e-4) & (residuals < 15)
        design = np.column_stack([np.ones(good.sum()), 1.0 / means[good]])
        old = coefs
        coefs, converged = gamma_identity_glm(design, disps[good], start=old)
        if not (coefs > 0).all():
            raise TrendFitError("parametric dispersion fit failed (a coefficient is not positive)")
        if np.sum(np.log(coefs / old) ** 2) < 1e-6 and converged:
            return coefs
    raise TrendFitError("dispersion fit did not converge")


def _mad(values: np.ndarray) -> float:
    """R's ``mad``: 1.4826 × the median absolute deviation from the median."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def log_dispersion_variance(gene_wise: np.ndarray, fitted: np.ndarray, min_disp: float = 1e-8) -> float:
    """``varLogDispEsts``: squared MAD of the log residuals of the gene-wise estimates ``≥ 100·minDisp``."""
    use = gene_wise >= 100 * min_disp
    return _mad(np.log(gene_wise[use]) - np.log(fitted[use])) ** 2


def dispersion_prior_variance(var_log_disp: float, n_samples: int, n_coefs: int) -> float:
    """R's ``estimateDispersionsPriorVar`` for more than 3 residual degrees of freedom (or none).

    ``max(varLogDispEsts − trigamma((m − p)/2), 0.25)``; with ``m ≤ p`` the variance
    itself. R's branch for 1–3 residual degrees of freedom matches a simulated
    distribution drawn with R's random generator; it is not reproduced (the caller warns).
    """
    df = n_samples - n_coefs
    if df <= 0:
        return float(var_log_disp)
    return float(max(var_log_disp - polygamma(1, df / 2.0), 0.25))
