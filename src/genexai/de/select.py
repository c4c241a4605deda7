"""DE-based choice of the model's genes.

:func:`select_de_genes` turns a DE table (of any baseline, :mod:`genexai.de.dispatch`)
into the model's gene list: the top N by adjusted p-value, or every hit
(:func:`~genexai.de.hits.de_hits`). Callers must pass the TRAINING samples only (see
:class:`~genexai.data.datamodule.RNASeqDataModule`); selecting genes by a test that saw
the test samples makes any classifier look better than it is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genexai.de.hits import de_hits
from genexai.errors import ConfigError, DataError

__all__ = ["SELECTION_MODES", "de_ranking", "select_de_genes"]

#: ``top``: N genes with the smallest padj; ``threshold``: padj < alpha and |log2FC| >= t.
SELECTION_MODES = ("top", "threshold")


def de_ranking(de: pd.DataFrame) -> pd.Index:
    """Genes from most to least significant: padj, ties (BH plateaus) broken by p-value, then table order.

    Untested genes (NaN padj, e.g. DESeq2's independent filtering) come after the tested
    ones, ordered by their p-value; NaN p-values come last.
    """
    padj = de["padj"].to_numpy(dtype=float)
    pvalue = de["pvalue"].to_numpy(dtype=float)
    order = np.lexsort((np.arange(len(de)), np.nan_to_num(pvalue, nan=np.inf), np.nan_to_num(padj, nan=np.inf)))
    return de.index[order]


def select_de_genes(
    de: pd.DataFrame,
    *,
    n_genes: int | str,
    mode: str = "top",
    alpha: float = 0.05,
    lfc_threshold: float = 0.0,
    source: str = "training split",
) -> list[str]:
    """The model's genes from a DE table of the training samples.

    Parameters
    ----------
    de : pandas.DataFrame
        DE results (``log2FoldChange, pvalue, padj``) indexed by gene.
    n_genes : int or "all"
        ``mode="top"``: how many genes (the smallest padj); ignored by ``threshold``.
    mode : str
        ``top`` or ``threshold`` (every gene with ``padj < alpha`` and
        ``|log2FoldChange| >= lfc_threshold``).
    source : str
        What the data is called in error messages.

    Returns
    -------
    list of str
        Selected genes, most significant first.
    """
    if mode == "top":
        if not (isinstance(n_genes, int) and n_genes > 0):
            raise ConfigError(
                f"data.gene_selection by DE with data.de_selection.mode=top needs data.n_genes = a positive "
                f"integer (got {n_genes!r}); or use data.de_selection.mode=threshold to keep every DE hit"
            )
        return [str(g) for g in de_ranking(de)[:n_genes]]
    if mode == "threshold":
        hits = de_hits(de, alpha, lfc_threshold)
        ranked = [str(g) for g in de_ranking(de) if hits.loc[g]]
        if not ranked:
            raise DataError(
                source,
                f"no gene has padj < {alpha} and |log2FC| >= {lfc_threshold} in the training samples, so DE-based "
                "selection keeps nothing; use data.de_selection.mode=top or raise data.de_selection.alpha",
            )
        return ranked
    raise ConfigError(f"data.de_selection.mode must be one of {list(SELECTION_MODES)}, got {mode!r}")
