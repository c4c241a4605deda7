"""One entry point for the DE baselines, and DE-based choice of the model's genes.

:func:`run_de` runs the configured baseline (``deseq2``: PyDESeq2 through the on-disk
cache; ``wilcoxon``: rank-sum test, fast enough to need none) and returns the same
table layout for both. :func:`select_de_genes` turns a DE table into the model's gene
list: the top N by adjusted p-value, or every hit. Callers must pass the TRAINING
samples only (see :class:`~genexai.data.datamodule.RNASeqDataModule`); selecting genes
by a test that saw the test samples makes any classifier look better than it is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genexai.errors import ConfigError, DataError

__all__ = ["DE_METHODS", "SELECTION_MODES", "de_ranking", "run_de", "select_de_genes"]

#: Baselines :func:`run_de` knows (the ``name`` of ``configs/de/*.yaml``).
DE_METHODS = ("deseq2", "wilcoxon")
#: ``top``: N genes with the smallest padj; ``threshold``: padj < alpha and |log2FC| >= t.
SELECTION_MODES = ("top", "threshold")


def run_de(
    method: str,
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    *,
    design: str = "~condition",
    ref_level: str | None = None,
    alpha: float = 0.05,
    cache_dir: str | None = None,
    lfc_shrink: bool = False,
    n_cpus: int = 1,
    pseudocount: float = 1.0,
    inference: str = "default",
    device: str = "cpu",
) -> tuple[pd.DataFrame, bool]:
    """Run DE baseline ``method`` on raw counts; return ``(table, cache_hit)``.

    ``deseq2`` uses :func:`~genexai.de.cache.cached_deseq2` (``alpha`` drives its
    independent filtering; ``lfc_shrink``, ``n_cpus``, ``cache_dir``, ``inference``,
    ``device`` apply);
    ``wilcoxon`` uses :func:`~genexai.de.wilcoxon.run_wilcoxon` (``pseudocount``
    applies; never cached, ``cache_hit`` is False).
    """
    if method == "deseq2":
        from genexai.de.cache import cached_deseq2

        return cached_deseq2(
            counts, metadata, cache_dir=cache_dir, design=design, ref_level=ref_level,
            alpha=alpha, lfc_shrink=lfc_shrink, n_cpus=n_cpus, inference=inference, device=device,
        )
    if method == "wilcoxon":
        from genexai.de.wilcoxon import run_wilcoxon

        return run_wilcoxon(counts, metadata, design=design, ref_level=ref_level, pseudocount=pseudocount), False
    raise ConfigError(f"unknown DE method {method!r}; choose one of {list(DE_METHODS)} (de=deseq2 or de=wilcoxon)")


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
        from genexai.evaluation.metrics import de_hits

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
