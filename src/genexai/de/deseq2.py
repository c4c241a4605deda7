"""Differential expression with PyDESeq2, behind a validated, typed wrapper.

The wrapper adds nothing to the statistics: it checks the inputs (so a wrong design
fails with a message a biologist can act on instead of a formulaic traceback), fixes
the reference level of the tested variable, and returns PyDESeq2's results table
unchanged. Run it on the raw counts of the TRAINING samples only, so that DE hits
are not informed by the samples the classifier is evaluated on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydeseq2.dds import DeseqDataSet
from pydeseq2.default_inference import DefaultInference
from pydeseq2.ds import DeseqStats
from pydeseq2.inference import Inference
from threadpoolctl import threadpool_limits

from genexai.de.design import prepare_inputs
from genexai.errors import ConfigError

RESULT_COLUMNS: tuple[str, ...] = ("baseMean", "log2FoldChange", "lfcSE", "stat", "pvalue", "padj")

#: Inference engines selectable by name (``de.inference``).
INFERENCE_ENGINES: tuple[str, ...] = ("default", "torch")


def check_engine(inference: str) -> str:
    """Return ``inference`` if it names an engine, else raise a one-line ConfigError."""
    if not isinstance(inference, str) or inference not in INFERENCE_ENGINES:
        raise ConfigError(
            f"de.inference must be one of {list(INFERENCE_ENGINES)}, got {inference!r}; "
            "'default' is PyDESeq2's own per-gene fits, 'torch' fits all genes at once."
        )
    return inference


def check_de_config(de_cfg) -> None:
    """Validate ``de.inference`` / ``de.device`` of a DE config up front (one-line ConfigError).

    Called before training when ``evaluate=true``, so a typo does not surface only
    after the model has trained; CUDA availability is checked for the torch engine.
    """
    from genexai.de.torch_engine import check_device_name, resolve_device

    engine = check_engine(de_cfg.get("inference", "default"))
    device = de_cfg.get("device", "cpu")
    check_device_name(device)
    if engine == "torch":
        resolve_device(device)


def make_inference(inference: str = "default", device: str = "cpu", n_cpus: int = 1) -> Inference:
    """Build the PyDESeq2 inference object for an engine name.

    Parameters
    ----------
    inference : {"default", "torch"}
        ``default``: PyDESeq2's :class:`DefaultInference` (per-gene scipy fits in a
        joblib loop over ``n_cpus`` processes). ``torch``:
        :class:`genexai.de.torch_engine.TorchInference` (all genes at once as
        tensors, ``n_cpus`` torch threads).
    device : str
        ``cpu``, ``cuda`` or ``auto``; used by the torch engine only (validated always).
    n_cpus : int
        Processes (default engine) or threads (torch engine).
    """
    check_engine(inference)
    from genexai.de.torch_engine import TorchInference, check_device_name

    check_device_name(device)
    if inference == "torch":
        return TorchInference(device=device, n_cpus=n_cpus)
    return DefaultInference(n_cpus=n_cpus)


def fit_deseq2(
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    design: str = "~condition",
    contrast: Sequence[str] | None = None,
    ref_level: str | None = None,
    alpha: float = 0.05,
    lfc_shrink: bool = False,
    cooks_filter: bool = True,
    independent_filter: bool = True,
    refit_cooks: bool = True,
    continuous: Sequence[str] = (),
    n_cpus: int = 1,
    quiet: bool = True,
    inference: Inference | str | None = None,
    device: str = "cpu",
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
    design : str
        Formula; covariates go before the tested variable, e.g. ``"~cell_line + condition"``.
    contrast : sequence of str, optional
        ``[variable, tested, reference]``; default: last design term, tested = the
        non-reference level (see :func:`resolve_contrast`).
    ref_level : str, optional
        Reference level of the tested variable (class 0); default alphabetical first.
    alpha : float
        FDR level used by independent filtering.
    lfc_shrink : bool
        Replace log2FoldChange/lfcSE by apeGLM-shrunk values (p-values unchanged).
    cooks_filter, independent_filter, refit_cooks : bool
        PyDESeq2 options, same defaults.
    continuous : sequence of str
        Design variables to fit as numeric slopes; all others are categorical.
    n_cpus : int
        Worker processes for PyDESeq2 (ignored when ``inference`` is given with its own).
    quiet : bool
        Silence PyDESeq2's progress messages.
    inference : pydeseq2.inference.Inference or {"default", "torch"}, optional
        Inference backend: an object, or an engine name for :func:`make_inference`
        (``None`` = ``"default"``, PyDESeq2's own).
    device : str
        Device of the ``"torch"`` engine: ``cpu``, ``cuda`` or ``auto``.

    Returns
    -------
    results : pandas.DataFrame
        Indexed by gene (name ``"gene"``), columns ``baseMean, log2FoldChange, lfcSE,
        stat, pvalue, padj``; genes PyDESeq2 could not test have NaN statistics.
    dds : pydeseq2.dds.DeseqDataSet
        The fitted dataset.
    """
    meta, (variable, tested, ref) = prepare_inputs(
        counts, metadata, design, contrast, ref_level, continuous
    )
    if inference is None or isinstance(inference, str):
        inference = make_inference(inference or "default", device=device, n_cpus=n_cpus)
    with warnings.catch_warnings():
        # We turn this warning into a ConfigError below, with a fix suggested.
        warnings.filterwarnings("ignore", message="The design matrix is not full rank")
        dds = DeseqDataSet(
            counts=counts,
            metadata=meta,
            design=design,
            refit_cooks=refit_cooks,
            inference=inference,
            quiet=quiet,
        )
    matrix = dds.obsm["design_matrix"]
    if np.linalg.matrix_rank(matrix.to_numpy(dtype=float)) < matrix.shape[1]:
        raise ConfigError(
            f"DE design {design!r} is confounded on these samples (its columns "
            f"{matrix.columns.tolist()} are linearly dependent, e.g. a covariate that "
            "equals the condition); drop or merge the redundant covariate."
        )
    # PyDESeq2 solves thousands of tiny per-gene problems; multi-threaded BLAS only adds
    # thread wake-ups to each (5x slower on a busy 2-core machine). Parallelism over
    # genes comes from n_cpus (processes) instead.
    with threadpool_limits(limits=1, user_api="blas"):
        dds.deseq2()
        stats = DeseqStats(
            dds,
            contrast=[variable, tested, ref],
            alpha=alpha,
            cooks_filter=cooks_filter,
            independent_filter=independent_filter,
            inference=inference,
            quiet=quiet,
        )
        stats.summary()
        if lfc_shrink:
            stats.lfc_shrink(coeff=f"{variable}[T.{tested}]")
    results = stats.results_df.loc[:, list(RESULT_COLUMNS)].copy()
    results.index.name = "gene"
    return results, dds


def run_deseq2(counts: pd.DataFrame, metadata: pd.DataFrame, *args: Any, **options: Any) -> pd.DataFrame:
    """Fit DESeq2 (PyDESeq2) and return its Wald-test results table.

    Arguments are those of :func:`fit_deseq2` (same order, same defaults).

    Returns
    -------
    pandas.DataFrame
        Indexed by gene (name ``"gene"``), columns ``baseMean, log2FoldChange, lfcSE,
        stat, pvalue, padj``; genes PyDESeq2 could not test have NaN statistics.
    """
    return fit_deseq2(counts, metadata, *args, **options)[0]
