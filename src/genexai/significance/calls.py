"""ML gene lists at ``q < α`` next to DESeq2's ``padj < α``: overlap, and realised FDP and power against a truth.

One row per attribution method that has q-values, plus ``deseq2`` (every gene DESeq2
tested) and ``deseq2_model_genes`` (DESeq2's calls among the genes the model saw — the
same universe as the ML lists). With a truth (``var["is_de"]``):

* ``fdp`` = false calls / max(1, calls) — the realised false discovery proportion of this one
  list, whose expectation over datasets is the FDR that ``alpha`` bounds; compare it with
  ``alpha``, remembering one dataset gives one noisy draw;
* ``power`` = true calls / all planted DE genes;
* ``power_model_genes`` = true calls / planted DE genes among the model's input genes (what
  an ML list could at most recover after gene selection).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from genexai.errors import DataError
from genexai.de.hits import de_hits
from genexai.evaluation.metrics import false_discovery_proportion, jaccard, true_positive_rate

__all__ = ["has_significance", "significance_calls", "significance_metrics"]

COLUMNS = (
    "method", "significance", "alpha", "n_tested", "n_called", "n_deseq2", "overlap_deseq2", "jaccard_deseq2",
    "n_true", "n_true_tested", "true_calls", "false_calls", "fdp", "power", "power_model_genes",
)


def has_significance(importance: pd.DataFrame | None) -> bool:
    """Whether an importance table carries q-values (``significance=permutation`` or ``decoy``)."""
    return importance is not None and "qvalue" in importance.columns and importance["qvalue"].notna().any()


def significance_calls(
    importance: pd.DataFrame, de: pd.DataFrame, alpha: float, truth: pd.Series | None = None
) -> pd.DataFrame:
    """Compare gene lists at the same nominal FDR ``alpha``: ML ``qvalue < alpha`` vs DESeq2 ``padj < alpha``.

    Parameters
    ----------
    importance
        Tidy importance table with ``qvalue`` (and ``significance``) columns.
    de
        DESeq2 results indexed by gene (``padj``; NaN = not called).
    alpha
        Nominal FDR level of both lists.
    truth
        Planted DE genes (bool, indexed by gene), if known.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, significance, alpha, n_tested, n_called, n_deseq2,
        overlap_deseq2, jaccard_deseq2`` and, with a truth, ``n_true, n_true_tested,
        true_calls, false_calls, fdp, power, power_model_genes`` (NaN without one).
    """
    if not has_significance(importance):
        raise DataError("importance table", "no qvalue column; train with significance=permutation or significance=decoy")
    if "padj" not in de.columns:
        raise DataError("DESeq2 table", "missing column padj")
    deseq2 = set(de.index[de_hits(de, alpha).to_numpy()])
    model_genes = set(importance["gene"])
    truth = truth.astype(bool) if truth is not None else None
    true_genes = set(truth.index[truth]) if truth is not None else set()

    def row(method: str, kind: str, tested: set, called: set) -> dict[str, Any]:
        record: dict[str, Any] = {
            "method": method,
            "significance": kind,
            "alpha": alpha,
            "n_tested": len(tested),
            "n_called": len(called),
            "n_deseq2": len(deseq2),
            "overlap_deseq2": len(called & deseq2),
            "jaccard_deseq2": jaccard(called, deseq2),
        }
        if truth is not None:
            true_calls = len(called & true_genes)
            in_model = true_genes & model_genes
            record.update(
                n_true=len(true_genes),
                n_true_tested=len(true_genes & tested),
                true_calls=true_calls,
                false_calls=len(called) - true_calls,
                fdp=false_discovery_proportion(len(called), true_calls),
                power=true_positive_rate(true_calls, len(true_genes)),
                power_model_genes=true_positive_rate(len(called & in_model), len(in_model)),
            )
        return record

    rows = []
    for method, table in importance.groupby("method", sort=False):
        if table["qvalue"].isna().all():
            continue
        kind = str(table["significance"].iloc[0]) if "significance" in table else ""
        called = set(table.loc[table["qvalue"].to_numpy(dtype=np.float64) < alpha, "gene"])
        rows.append(row(str(method), kind, set(table["gene"]), called))
    rows.append(row("deseq2", "padj", set(de.index), deseq2))
    rows.append(row("deseq2_model_genes", "padj", set(de.index) & model_genes, deseq2 & model_genes))
    return pd.DataFrame(rows).reindex(columns=list(COLUMNS))


def significance_metrics(calls: pd.DataFrame) -> dict[str, float]:
    """Flat metrics ``eval/significance/<method>/<n_called|fdp|power|jaccard_deseq2>`` (NaN-free keys only)."""
    metrics: dict[str, float] = {}
    for record in calls.to_dict("records"):
        for key in ("n_called", "fdp", "power", "power_model_genes", "jaccard_deseq2"):
            value = record.get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                metrics[f"eval/significance/{record['method']}/{key}"] = float(value)
    return metrics
