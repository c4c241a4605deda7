"""How closely two DESeq2 results tables agree (e.g. torch vs PyDESeq2's default inference).

Rule: for every gene whose ``padj`` is not NaN in the reference, and for each of
``log2FoldChange``, ``pvalue`` and ``padj``::

    |ours - reference| <= rtol * |reference| + atol      (rtol = 0.02, atol = 1e-12)

``atol`` only matters for p-values below ~1e-10: there a Wald statistic that differs
by 1e-4 (far below the optimisers' tolerances) already moves the p-value by > 2%.
The reported "relative error" is ``|ours - reference| / |reference|``; the "excess" is
``|ours - reference| / (rtol |reference| + atol)`` (agreement means excess <= 1).

Reference: PyDESeq2's default inference, or :class:`PriorFallbackInference` (the same,
with the prior kept where PyDESeq2 0.5.4's MAP dispersion fit falls back to a grid
search: there PyDESeq2 drops the prior by mistake, R's DESeq2 does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from inspect import signature
from typing import Any

import numpy as np
import pandas as pd
from pydeseq2.default_inference import DefaultInference
from pydeseq2.grid_search import grid_fit_alpha

__all__ = ["COLUMNS", "PriorFallbackInference", "agreement", "unconverged_genes"]

COLUMNS: tuple[str, ...] = ("log2FoldChange", "pvalue", "padj")
# The arguments of the method PriorFallbackInference extends, by name.
_ALPHA_MLE = signature(DefaultInference.alpha_mle)


def unconverged_genes(dds) -> pd.Index:
    """Genes for which one of PyDESeq2's own optimisers reported failure.

    ``_genewise_converged`` / ``_MAP_converged`` (L-BFGS-B of the dispersions, then
    a grid search; PyDESeq2 0.5's grid fallback of the MAP fit omits the prior) and
    ``_LFC_converged`` (IRLS, then L-BFGS-B) in ``dds.var``; missing values count as
    converged.
    """
    failed = np.zeros(dds.n_vars, dtype=bool)
    for flag in ("_genewise_converged", "_MAP_converged", "_LFC_converged"):
        if flag in dds.var:
            failed |= ~dds.var[flag].fillna(True).to_numpy(dtype=bool)
    return dds.var_names[failed]


def agreement(
    ours: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    rtol: float = 0.02,
    atol: float = 1e-12,
    exclude: Sequence[str] = (),
    columns: Sequence[str] = COLUMNS,
) -> dict[str, float | int | bool]:
    """Compare two results tables gene by gene (see the module docstring for the rule).

    Parameters
    ----------
    ours, reference : pandas.DataFrame
        DESeq2 results indexed by gene (same genes).
    rtol, atol : float
        Relative and absolute tolerance.
    exclude : sequence of str
        Genes left out of the comparison (e.g. :func:`unconverged_genes` of the reference).

    Returns
    -------
    dict
        ``genes`` compared, ``padj_nan_mismatch`` (genes tested by one table only),
        per column ``max_rel_<col>``, ``n_over_<col>`` (genes breaking the rule), and
        ``agree`` (no gene breaks it and the same genes are tested).
    """
    common = reference.index.intersection(ours.index)
    tested = reference.loc[common, "padj"].notna()
    genes = tested.index[tested.to_numpy()].difference(pd.Index(exclude), sort=False)
    out: dict[str, float | int | bool] = {
        "genes": len(genes),
        "padj_nan_mismatch": int((ours.loc[common, "padj"].isna() != reference.loc[common, "padj"].isna()).sum()),
    }
    agree = out["padj_nan_mismatch"] == 0
    for column in columns:
        a = ours.loc[genes, column].to_numpy(dtype=float)
        b = reference.loc[genes, column].to_numpy(dtype=float)
        diff = np.abs(a - b)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(diff == 0, 0.0, diff / np.abs(b))
        over = ~(diff <= rtol * np.abs(b) + atol)  # NaN on one side only counts as over
        out[f"max_rel_{column}"] = float(np.nanmax(rel)) if len(rel) else 0.0
        out[f"n_over_{column}"] = int(over.sum())
        agree = agree and not over.any()
    out["agree"] = bool(agree)
    return out


class PriorFallbackInference(DefaultInference):
    """PyDESeq2's DefaultInference whose MAP dispersion fallback keeps the prior.

    Why: in PyDESeq2 0.5.4, when L-BFGS-B fails on a gene's dispersion,
    ``utils.fit_alpha_mle`` falls back to ``grid_fit_alpha`` *without* passing
    ``prior_disp_var``/``prior_reg``: for the MAP fit that silently returns the gene-wise
    MLE instead of the MAP estimate. R's DESeq2 keeps the prior in its grid fallback
    (``fitDispGridWrapper`` in ``estimateDispersionsMAP``). This class changes nothing
    else: genes whose L-BFGS-B converged keep PyDESeq2's exact answer; the others are
    re-fitted by the same ``grid_fit_alpha`` with the prior, on a finer grid
    (``grid_length`` 4,000 instead of 100: steps of ~3e-6 in log alpha instead of ~4e-3,
    which for a gene with p ~ 1e-10 already moves the p-value by 3%). It is the reference for
    :class:`~genexai.de.torch.TorchInference` on the genes where PyDESeq2's
    MAP optimiser aborts (its line search fails on high-count genes, where rounding in
    the likelihood exceeds the decrease left near the optimum), and is used only by the
    agreement checks (``benchmarks/de_speed.py --prior-fallback``, tests).
    """

    def __init__(self, *args, grid_length: int = 4000, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.grid_length = int(grid_length)

    def alpha_mle(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`DefaultInference.alpha_mle` (same arguments), the MAP grid fallback with the prior."""
        dispersions, converged = super().alpha_mle(*args, **kwargs)
        call = _ALPHA_MLE.bind(self, *args, **kwargs)
        call.apply_defaults()
        a = call.arguments
        if a["prior_reg"]:
            for gene in np.flatnonzero(~converged):
                dispersions[gene] = np.exp(
                    grid_fit_alpha(
                        a["counts"][:, gene], a["design_matrix"], a["mu"][:, gene], a["alpha_hat"][gene],
                        a["min_disp"], a["max_disp"], prior_disp_var=a["prior_disp_var"], cr_reg=a["cr_reg"],
                        prior_reg=True, grid_length=self.grid_length,
                    )
                )  # fmt: skip
        return dispersions, converged
