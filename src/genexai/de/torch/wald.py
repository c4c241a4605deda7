"""DESeq2's Wald test: batched standard errors, then p-values for each alternative hypothesis."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm

from genexai.de.torch.linalg import gram, spd_inverse

__all__ = ["wald_pvalues", "wald_se"]


def wald_se(
    XX: torch.Tensor, MU: torch.Tensor, disp: torch.Tensor, ridge: torch.Tensor, c: torch.Tensor, p: int
) -> torch.Tensor:
    """Standard error of the contrast ``c`` per gene: ``sqrt(c^T H M H c)``, ``H = (M + ridge)^-1``."""
    W = MU / (1.0 + MU * disp)
    M = gram(XX, W, p)
    H, _ = spd_inverse(M + ridge)
    Hc = H @ c
    return torch.sqrt(torch.einsum("gp,gpq,gq->g", Hc, M, Hc))


def wald_pvalues(
    lfc: np.ndarray, se: np.ndarray, contrast: np.ndarray, lfc_null: float, alt_hypothesis: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """Wald statistic and p-value of every gene, as ``pydeseq2.utils.wald_test``; returns ``(pval, stat)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (lfc - lfc_null) / se[:, None]
        if alt_hypothesis is None:
            stat = (lfc - lfc_null) @ contrast / se
            pval = 2 * norm.sf(np.abs(stat))
        elif alt_hypothesis == "greater":
            stat, pval = _greater(z, contrast)
        elif alt_hypothesis == "less":
            stat, pval = _less(z, contrast)
        elif alt_hypothesis == "greaterAbs":
            stat = (np.sign(lfc) * np.fmax((np.abs(lfc) - lfc_null) / se[:, None], 0)) @ contrast
            pval = 2 * norm.sf(np.abs(stat))
        elif alt_hypothesis == "lessAbs":
            s_above, p_above = _greater((lfc + abs(lfc_null)) / se[:, None], contrast)
            s_below, p_below = _less((lfc - abs(lfc_null)) / se[:, None], contrast)
            stat = np.where(np.abs(s_below) < np.abs(s_above), s_below, s_above)
            pval = np.fmax(p_above, p_below)
        else:
            raise ValueError(f"unknown alt_hypothesis {alt_hypothesis!r}")
    return pval, stat


def _greater(z: np.ndarray, contrast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stat = np.fmax(z, 0) @ contrast
    return stat, norm.sf(stat)


def _less(z: np.ndarray, contrast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stat = np.fmin(z, 0) @ contrast
    return stat, norm.sf(np.abs(stat))
