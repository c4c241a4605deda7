"""Decoy (shadow) genes: one training run with permuted copies of the genes → target–decoy FDR.

Every real gene is joined by ``decoy_ratio`` decoy copies (a fraction samples which genes
are copied) whose values are permuted across the samples of each split
(:func:`~genexai.significance.views.with_decoys`; Boruta, Kursa & Rudnicki 2010). One model
is trained on real + decoy genes exactly as the observed model was
(the pipeline's :class:`~genexai.significance.refit.Refitter`) and attributed with the same
methods. A decoy looks like a gene but cannot carry label information, so the number of
decoys above an importance threshold estimates how many null real genes pass it
(target–decoy, METHODS.md):

``FDR(τ) = ((#decoys ≥ τ + 1) / r) / max(1, #real ≥ τ)``, ``r`` = decoys per real gene,

made monotone into q-values; each real gene also gets an empirical p-value against the
decoy importances, ``(1 + #decoys ≥ I_j) / (n_decoys + 1)``.

The q-values rank the real genes by their importance *in the decoy-augmented model*
(column ``significance_score``); the ``importance`` column stays that of the observed
model. Decoys appear nowhere else: not in the importance table, the DESeq2 comparison or
the report.

This is a **heuristic FDR estimate, not knockoff FDR control**: the ``+1`` borrows the form of
knockoff+ but not its guarantee. A permuted decoy loses its gene's correlation with every
other gene, and the competition is not paired (a real gene is not contested by its own
copy), so real null genes and decoys are not exchangeable; a null gene correlated with DE
genes can outscore every decoy. Measured on 20 independent spike-in replicates
(``benchmarks/significance_spikein.py``, README) rather than assumed. The ``+1`` also sets
a floor: the smallest q-value is ``1/(r·k)`` for ``k`` calls, so with ``r = 1`` and
``α = 0.05`` fewer than 20 genes can never be called; raise ``decoy_ratio`` (e.g. 5) or set
``plus_one: false`` (the plain estimate, less conservative) when few true genes are expected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genexai.errors import ConfigError
from genexai.significance.fdr import decoy_pvalues, target_decoy_qvalues
from genexai.significance.refit import Refitter, derive_seeds
from genexai.significance.views import DECOY_PREFIX, with_decoys

__all__ = ["decoy_run", "decoy_significance", "is_decoy"]


def is_decoy(genes: pd.Series) -> pd.Series:
    """Whether each gene name is a decoy's (``__decoy<k>__<gene>``)."""
    return genes.astype(str).str.startswith(DECOY_PREFIX)


def decoy_run(refit: Refitter, datamodule, ratio: float, seed: int) -> pd.DataFrame:
    """Train and attribute one model on real + decoy genes; return its importance table, decoys included.

    ``seed`` seeds the decoy permutations and the model (two separate derived seeds).
    Columns: those of the importance table plus ``is_decoy`` and ``source_gene`` (the real
    gene a decoy copies; the gene itself for real genes).
    """
    data_seed, model_seed = derive_seeds(seed, 2, stream=1)
    view, sources = with_decoys(datamodule, float(ratio), np.random.default_rng(data_seed))
    table = refit(view, model_seed)
    source_of = dict(zip(view.gene_names[datamodule.n_genes :], (datamodule.gene_names[j] for j in sources)))
    table = table.assign(is_decoy=is_decoy(table["gene"]))
    table["source_gene"] = table["gene"].map(source_of).fillna(table["gene"])
    return table


def decoy_significance(importance: pd.DataFrame, decoy_table: pd.DataFrame, plus_one: bool = True) -> pd.DataFrame:
    """Add ``pvalue``, ``qvalue``, ``significance`` (``"decoy"``) and ``significance_score`` to the observed table.

    Per method, real genes of ``decoy_table`` are scored against that method's decoys.
    """
    out = []
    for method, table in importance.groupby("method", sort=False):
        rows = decoy_table[decoy_table["method"] == method]
        if rows.empty:
            raise ConfigError(f"the decoy run has no importances for method {method!r}")
        decoys = rows.loc[rows["is_decoy"], "importance"].to_numpy(dtype=np.float64)
        real = rows.loc[~rows["is_decoy"]].set_index("gene")["importance"]
        missing = set(table["gene"]) - set(real.index)
        if missing:
            raise ConfigError(f"the decoy run of {method!r} lacks {len(missing)} genes, e.g. {sorted(missing)[:3]}")
        score = real.loc[table["gene"]].to_numpy(dtype=np.float64)
        table = table.copy()
        table["pvalue"] = decoy_pvalues(score, decoys)
        table["qvalue"] = target_decoy_qvalues(score, decoys, plus_one=plus_one)
        table["significance"] = "decoy"
        table["significance_score"] = score
        out.append(table)
    return pd.concat(out).loc[importance.index]
