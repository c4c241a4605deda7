"""Differential expression with PyDESeq2, behind a validated, typed wrapper.

The wrapper adds nothing to the statistics: it checks the inputs (so a wrong design
fails with a message a biologist can act on instead of a formulaic traceback), fixes
the reference level of the tested variable, and returns PyDESeq2's results table
unchanged. Run it on the raw counts of the TRAINING samples only, so that DE hits
are not informed by the samples the classifier is evaluated on.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from pydeseq2.dds import DeseqDataSet
from pydeseq2.ds import DeseqStats
from pydeseq2.inference import Inference
from threadpoolctl import threadpool_limits

from genexai.de.engines import make_inference
from genexai.de.inputs import OMNIBUS, align_metadata, contrast_levels, reduced_design
from genexai.de.options import RESULT_COLUMNS, DESeq2Options
from genexai.de.rfaithful.pipeline import RDeseqDataSet, RDeseqStats
from genexai.errors import ConfigError

__all__ = ["RESULT_COLUMNS", "DESeq2Options", "fit_deseq2", "fit_deseq2_contrasts", "run_deseq2"]

def fit_deseq2(
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    *,
    n_cpus: int = 1,
    quiet: bool = True,
    inference: Inference | str | None = None,
    device: str = "cpu",
    **options: Any,
) -> tuple[pd.DataFrame, DeseqDataSet]:
    """Fit DESeq2 (PyDESeq2); return its Wald-test results table and the fitted dataset.

    The same as :func:`run_deseq2`, which most callers want, but also returns the
    ``DeseqDataSet`` (dispersions, convergence flags ``_genewise_converged``,
    ``_MAP_converged``, ``_LFC_converged`` in ``.var``) for diagnostics.

    Parameters
    ----------
    counts : pandas.DataFrame
        Raw integer counts, samples x genes (never normalised values).
    metadata : pandas.DataFrame
        Sample metadata indexed by sample; must cover every row of ``counts``.
    n_cpus : int
        Worker processes for PyDESeq2 (ignored when ``inference`` is given with its own).
    quiet : bool
        Silence PyDESeq2's progress messages.
    inference : pydeseq2.inference.Inference or {"default", "torch"}, optional
        Inference backend: an object, or an engine name for
        :func:`~genexai.de.engines.make_inference` (``None`` = ``"default"``, PyDESeq2's own).
    device : str
        Device of the ``"torch"`` engine: ``cpu``, ``cuda`` or ``auto``.
    **options
        The fields of :class:`DESeq2Options` (``design``, ``contrast``, ``ref_level``,
        ``alpha``, ``lfc_shrink``, ``cooks_filter``, ``independent_filter``,
        ``refit_cooks``, ``continuous``, ``pipeline``).

    Returns
    -------
    results : pandas.DataFrame
        Indexed by gene (name ``"gene"``), columns ``baseMean, log2FoldChange, lfcSE,
        stat, pvalue, padj``; genes PyDESeq2 could not test have NaN statistics.
    dds : pydeseq2.dds.DeseqDataSet
        The fitted dataset.
    """
    opts = DESeq2Options(**options)
    dds, inference, (variable, tested, ref) = _fit_dataset(counts, metadata, opts, inference, device, n_cpus, quiet)
    with threadpool_limits(limits=1, user_api="blas"):
        results = _wald_table(dds, [variable, tested, ref], opts, inference, quiet)
    return results, dds


def _fit_dataset(
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    opts: DESeq2Options,
    inference: Inference | str | None,
    device: str,
    n_cpus: int,
    quiet: bool,
) -> tuple[DeseqDataSet, Inference, list[str]]:
    """Validate, build and fit (``dds.deseq2()``) the dataset; return it, its engine and the resolved contrast."""
    meta, resolved = opts.prepare(counts, metadata)
    if inference == "r":
        raise ConfigError("fit_deseq2 returns PyDESeq2's dataset; R's DESeq2 runs through run_deseq2(inference='r')")
    if inference is None or isinstance(inference, str):
        inference = make_inference(inference or "default", device=device, n_cpus=n_cpus)
    with warnings.catch_warnings():
        # We turn this warning into a ConfigError below, with a fix suggested.
        warnings.filterwarnings("ignore", message="The design matrix is not full rank")
        dataset = RDeseqDataSet if opts.pipeline == "r" else DeseqDataSet
        dds = dataset(
            counts=counts,
            metadata=meta,
            design=opts.design,
            refit_cooks=opts.refit_cooks,
            inference=inference,
            quiet=quiet,
        )
    matrix = dds.obsm["design_matrix"]
    if np.linalg.matrix_rank(matrix.to_numpy(dtype=float)) < matrix.shape[1]:
        raise ConfigError(
            f"DE design {opts.design!r} is confounded on these samples (its columns "
            f"{matrix.columns.tolist()} are linearly dependent, e.g. a covariate that "
            "equals the condition); drop or merge the redundant covariate."
        )
    # PyDESeq2 solves thousands of tiny per-gene problems; multi-threaded BLAS only adds
    # thread wake-ups to each (5x slower on a busy 2-core machine). Parallelism over
    # genes comes from n_cpus (processes) instead.
    with threadpool_limits(limits=1, user_api="blas"):
        dds.deseq2()
    return dds, inference, resolved


def _wald_table(
    dds: DeseqDataSet, contrast: list[str], opts: DESeq2Options, inference: Inference, quiet: bool
) -> pd.DataFrame:
    """PyDESeq2's Wald test of ``contrast`` on a fitted dataset (optionally apeGLM-shrunk), in RESULT_COLUMNS."""
    variable, tested, _ = contrast
    statistics = RDeseqStats if opts.pipeline == "r" else DeseqStats
    stats = statistics(
        dds,
        contrast=contrast,
        alpha=opts.alpha,
        cooks_filter=opts.cooks_filter,
        independent_filter=opts.independent_filter,
        inference=inference,
        quiet=quiet,
    )
    stats.summary()
    if opts.lfc_shrink:
        stats.lfc_shrink(coeff=f"{variable}[T.{tested}]")
    results = stats.results_df.loc[:, list(RESULT_COLUMNS)].copy()
    results.index.name = "gene"
    return results


def fit_deseq2_contrasts(
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    *,
    n_cpus: int = 1,
    quiet: bool = True,
    inference: Inference | str | None = None,
    device: str = "cpu",
    **options: Any,
) -> dict[str, pd.DataFrame]:
    """One DESeq2 fit, a Wald test of every level against the reference, and the LRT across all levels.

    Keyword arguments are those of :func:`fit_deseq2`, except ``contrast``: the tested
    variable is the design's last term, its levels those of
    :func:`~genexai.de.inputs.contrast_levels`. ``inference="r"`` runs R's DESeq2
    (:func:`genexai.de.r.deseq2.r_deseq2_contrasts`) instead.

    Returns
    -------
    dict
        ``{level: Wald table of level vs reference, ..., "omnibus": LRT table}`` in the
        layout of :func:`fit_deseq2` (see :func:`~genexai.de.lrt.deseq2_lrt` for the LRT).
    """
    if inference == "r":
        from genexai.de.r.deseq2 import r_deseq2_contrasts

        return r_deseq2_contrasts(counts, metadata, **options)
    from genexai.de.lrt import deseq2_lrt

    opts = DESeq2Options(**options)
    variable, ref, levels = contrast_levels(align_metadata(counts, metadata), opts.design, opts.ref_level)
    opts = replace(opts, contrast=[variable, levels[0], ref], ref_level=None)
    dds, inference, _ = _fit_dataset(counts, metadata, opts, inference, device, n_cpus, quiet)
    with threadpool_limits(limits=1, user_api="blas"):
        tables = {level: _wald_table(dds, [variable, level, ref], opts, inference, quiet) for level in levels}
        device_used = getattr(inference, "device", "cpu")  # the torch engine's; PyDESeq2's own runs on CPU
        tables[OMNIBUS] = deseq2_lrt(dds, reduced_design(opts.design, variable), opts, device=device_used)
    return tables


def run_deseq2(counts: pd.DataFrame, metadata: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    """Fit DESeq2 and return its Wald-test results table.

    Keyword arguments are those of :func:`fit_deseq2`; ``inference="r"`` runs R's DESeq2
    (:func:`genexai.de.r.r_deseq2`) on the same validated inputs instead of PyDESeq2.

    Returns
    -------
    pandas.DataFrame
        Indexed by gene (name ``"gene"``), columns ``baseMean, log2FoldChange, lfcSE,
        stat, pvalue, padj``; genes PyDESeq2 could not test have NaN statistics.
    """
    if kwargs.get("inference") == "r":
        from genexai.de.r.deseq2 import r_deseq2

        return r_deseq2(counts, metadata, **{k: v for k, v in kwargs.items() if k not in ("inference", "device", "n_cpus", "quiet")})
    return fit_deseq2(counts, metadata, **kwargs)[0]
