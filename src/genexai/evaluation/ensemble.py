"""Fold ensembles of gene rankings, scored against a known truth.

Each CV fold trains on a different 80 % of a small cohort, so one fold's attribution
ranking carries that fold's sampling noise. Averaging a method's ranks over the folds
(``importance_cv.csv``) is the ensemble a researcher would report as "the model's genes";
this module scores that averaged ranking against the planted genes, beside the per-fold
numbers the CV summary already has. The truth is a property of the genes, not of the
samples, so no fold's test samples enter it.
"""

from __future__ import annotations

import pandas as pd

from genexai.evaluation.metrics import ranking_metrics

__all__ = ["ensemble_vs_truth"]


def ensemble_vs_truth(gene_ranks: pd.DataFrame, truth: pd.Series) -> pd.DataFrame:
    """AUPRC/AUROC of every method's fold-averaged ranking against the planted genes.

    Parameters
    ----------
    gene_ranks
        ``importance_cv.csv``'s table: ``method, gene, mean_rank_missing_last, ...``.
    truth
        Planted DE genes (bool), indexed by gene; genes absent from it count as not DE.

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method`` and :func:`ranking_metrics`'s columns, over the
        genes any fold scored (score = ``-mean_rank_missing_last``: a gene a fold did not
        select counts as ranked last there).
    """
    rows = []
    for method, table in gene_ranks.groupby("method", sort=False):
        scores = -table.set_index("gene")["mean_rank_missing_last"].astype(float)
        is_de = truth.reindex(scores.index, fill_value=False).astype(bool)
        rows.append({"method": str(method), **ranking_metrics(scores, is_de)})
    return pd.DataFrame(rows)
