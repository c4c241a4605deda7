"""How closely two DESeq2 results tables agree (e.g. torch vs PyDESeq2's default inference).

Rule: for every gene whose ``padj`` is not NaN in the reference, and for each of
``log2FoldChange``, ``pvalue`` and ``padj``::

    |ours - reference| <= rtol * |reference| + atol      (rtol = 0.02, atol = 1e-12)

``atol`` only matters for p-values below ~1e-10: there a Wald statistic that differs
by 1e-4 (far below the optimisers' tolerances) already moves the p-value by > 2%.
The reported "relative error" is ``|ours - reference| / |reference|``; the "excess" is
``|ours - reference| / (rtol |reference| + atol)`` (agreement means excess <= 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["COLUMNS", "agreement", "unconverged_genes"]

COLUMNS: tuple[str, ...] = ("log2FoldChange", "pvalue", "padj")


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
