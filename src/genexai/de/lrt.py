"""DESeq2's likelihood-ratio test (R's ``nbinomLRT``) on a fitted PyDESeq2 dataset.

PyDESeq2 has only the Wald test. The LRT of a factor with K levels asks whether any level
differs, one test per gene instead of K − 1. As in R's DESeq2:

* the reduced model (the design without the tested variable) is fitted per gene by IRLS
  with the FULL model's final dispersions and size factors (:func:`~genexai.de.torch.irls.irls_chunk`,
  the batched twin of ``pydeseq2.utils.irls_solver``; with ``de.pipeline=r``, R's own
  ``fitNbinomGLMs`` rules, :func:`~genexai.de.rfaithful.glm.fit_nbinom_glm`);
* ``stat = 2 (log L_full − log L_reduced)`` with the unthresholded fitted means
  (R's ``dnbinom`` sum), chi-square with ``K − 1`` (the dropped columns) degrees of freedom;
* genes whose outliers PyDESeq2 replaced use the replaced counts, as their full fit did;
  genes that became all-zero by the replacement get ``stat = 0, p = 1`` (as the Wald test);
* Cook's filtering and independent filtering as R's ``results()`` applies them to any
  test (:func:`~genexai.de.filtering.independent_filtering`: PyDESeq2's lowess, or R's
  with ``de.pipeline=r``, as the Wald test of the same pipeline).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from formulaic import model_matrix
from pydeseq2.dds import DeseqDataSet
from scipy.special import gammaln
from scipy.stats import chi2, false_discovery_control

from genexai.de.filtering import independent_filtering
from genexai.de.options import RESULT_COLUMNS, DESeq2Options
from genexai.de.rfaithful.glm import fit_nbinom_glm
from genexai.de.torch.irls import IrlsOptions, irls_chunk

__all__ = ["deseq2_lrt", "nb_loglik"]

#: Genes per IRLS chunk: bounded temporaries, as the torch engine's default chunking.
_CHUNK_ELEMENTS = 2**19


def nb_loglik(counts: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Per-gene negative-binomial log-likelihood (samples x genes counts and means, per-gene dispersions)."""
    r = 1.0 / alpha
    terms = (
        gammaln(counts + r) - gammaln(r) - gammaln(counts + 1.0)
        + r * np.log(r / (r + mu)) + counts * np.log(mu / (r + mu))
    )  # fmt: skip
    return terms.sum(axis=0)


def _final_counts(dds: DeseqDataSet) -> np.ndarray:
    """The counts the final full fit saw: the originals, with Cook's-replaced genes' replaced counts."""
    counts = np.asarray(dds.X, dtype=np.float64).copy()
    if "replaced" in dds.var and dds.var["replaced"].any():
        counts[:, dds.var["replaced"].to_numpy()] = np.asarray(dds.counts_to_refit.X, dtype=np.float64)
    return counts


def deseq2_lrt(
    dds: DeseqDataSet, reduced: str, opts: DESeq2Options, *, device: str | torch.device = "cpu"
) -> pd.DataFrame:
    """The LRT of the full design of ``dds`` against the formula ``reduced``; a table in RESULT_COLUMNS.

    ``stat`` is the chi-square statistic, ``log2FoldChange`` and ``lfcSE`` are NaN (no
    single fold change describes K levels); all-zero genes have NaN statistics.
    """
    full = dds.obsm["design_matrix"].to_numpy(dtype=np.float64)
    red = np.asarray(model_matrix(reduced, dds.obs), dtype=np.float64)
    df = full.shape[1] - red.shape[1]
    genes = dds.var_names
    tested = dds.var["non_zero"].to_numpy()
    counts = _final_counts(dds)[:, tested]
    sf = dds.obs["size_factors"].to_numpy(dtype=np.float64)
    disp = dds.var["dispersions"].to_numpy(dtype=np.float64)[tested]
    mu_full = sf[:, None] * np.exp(full @ dds.varm["LFC"].to_numpy(dtype=np.float64)[tested].T)
    if opts.pipeline == "r":
        mu_red = fit_nbinom_glm(counts, sf, red, disp, min_mu=dds.min_mu, device=device).mu
    else:
        mu_red = _pydeseq2_reduced_means(counts, sf, red, disp, dds, device)
    stat = np.full(len(genes), np.nan)
    stat[tested] = 2.0 * (nb_loglik(counts, mu_full, disp) - nb_loglik(counts, mu_red, disp))
    pvalue = chi2.sf(stat, df)
    if dds.refit_cooks and "replaced" in dds.var and dds.var["replaced"].any():
        new_zero = genes.isin(dds.new_all_zeroes_genes)
        stat[new_zero], pvalue[new_zero] = 0.0, 1.0
    if opts.cooks_filter:
        pvalue[np.asarray(dds.cooks_outlier(), dtype=bool)] = np.nan
    base_mean = dds.var["_normed_means"].to_numpy(dtype=np.float64)
    if opts.independent_filter:
        padj = independent_filtering(pvalue, base_mean, opts.alpha, r_rule=opts.pipeline == "r")[0]
    else:
        padj = _bh(pvalue)
    table = pd.DataFrame(
        {"baseMean": base_mean, "log2FoldChange": np.nan, "lfcSE": np.nan,
         "stat": stat, "pvalue": pvalue, "padj": padj},  # fmt: skip
        index=pd.Index(genes, name="gene"),
    )
    return table.loc[:, list(RESULT_COLUMNS)]


def _pydeseq2_reduced_means(
    counts: np.ndarray, sf: np.ndarray, reduced: np.ndarray, disp: np.ndarray, dds: DeseqDataSet,
    device: str | torch.device,
) -> np.ndarray:  # fmt: skip
    """The reduced model's means by PyDESeq2's IRLS rules, in chunks of bounded size."""
    irls = IrlsOptions(min_mu=dds.min_mu, beta_tol=dds.beta_tol)
    step = max(1, _CHUNK_ELEMENTS // counts.shape[0])
    mu_red = np.empty_like(counts)
    for start in range(0, counts.shape[1], step):
        block = slice(start, start + step)
        mu_red[:, block] = irls_chunk(counts[:, block], sf, reduced, disp[block], irls, torch.device(device))[1]
    return mu_red


def _bh(pvalue: np.ndarray) -> np.ndarray:
    padj = np.full_like(pvalue, np.nan)
    ok = ~np.isnan(pvalue)
    if ok.any():
        padj[ok] = false_discovery_control(pvalue[ok], method="bh")
    return padj
