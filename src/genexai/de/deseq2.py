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

import numpy as np
import pandas as pd
from formulaic import Formula
from formulaic.errors import FormulaicError
from formulaic.parser.types.factor import Factor
from pydeseq2.dds import DeseqDataSet
from pydeseq2.default_inference import DefaultInference
from pydeseq2.ds import DeseqStats
from pydeseq2.inference import Inference
from threadpoolctl import threadpool_limits

from genexai.errors import ConfigError, DataError

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
    from genexai.de.torch_inference import check_device_name, resolve_device

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
        :class:`genexai.de.torch_inference.TorchInference` (all genes at once as
        tensors, ``n_cpus`` torch threads).
    device : str
        ``cpu``, ``cuda`` or ``auto``; used by the torch engine only (validated always).
    n_cpus : int
        Processes (default engine) or threads (torch engine).
    """
    check_engine(inference)
    from genexai.de.torch_inference import TorchInference, check_device_name

    check_device_name(device)
    if inference == "torch":
        return TorchInference(device=device, n_cpus=n_cpus)
    return DefaultInference(n_cpus=n_cpus)


def design_variables(design: str) -> tuple[list[str], str | None]:
    """Parse a design formula with the parser PyDESeq2 itself uses.

    Parameters
    ----------
    design : str
        Formulaic formula such as ``"~cell_line + condition"``.

    Returns
    -------
    variables : list of str
        Metadata columns the formula reads, sorted.
    last : str or None
        The variable of the last term when it is a plain column (DESeq2's convention
        for the default contrast), else ``None`` (interaction, ``C(...)``, ...).
    """
    try:
        formula = Formula(design)
    except FormulaicError as err:
        raise ConfigError(
            f"DE design {design!r} is not a valid formula ({err}); "
            "write it like '~condition' or '~cell_line + condition'."
        ) from None
    terms = [term for term in formula if term.factors]
    if not terms:
        raise ConfigError(f"DE design {design!r} has no variables; write it like '~condition'.")
    factors = terms[-1].factors
    last = None
    if len(factors) == 1 and factors[0].eval_method == Factor.EvalMethod.LOOKUP:
        last = str(factors[0].expr)
    return sorted(formula.required_variables), last


def _validate_counts(counts: pd.DataFrame) -> None:
    if counts.empty:
        raise DataError("counts", "the count matrix is empty; expected samples x genes raw counts.")
    for axis, names in (("sample", counts.index), ("gene", counts.columns)):
        if names.has_duplicates:
            dup = names[names.duplicated()].unique()[:5].tolist()
            raise DataError("counts", f"duplicated {axis} names {dup}; make them unique.")
        if not all(isinstance(name, str) for name in names):
            raise DataError("counts", f"{axis} names must be strings (AnnData requirement).")
    values = counts.to_numpy()
    if not np.issubdtype(values.dtype, np.number):
        raise DataError("counts", "non-numeric values; expected raw integer read counts.")
    if not np.isfinite(values).all():
        raise DataError("counts", "missing or infinite values; DESeq2 needs complete raw counts.")
    if (values < 0).any() or (values % 1 != 0).any():
        raise DataError(
            "counts",
            "values are not non-negative integers; DESeq2 needs raw read counts, "
            "not normalised/log/TPM values.",
        )


def _align_metadata(counts: pd.DataFrame, metadata: pd.DataFrame) -> pd.DataFrame:
    missing = counts.index.difference(metadata.index)
    if len(missing):
        raise DataError(
            "metadata",
            f"{len(missing)} sample(s) of the count matrix have no metadata row, "
            f"e.g. {missing[:3].tolist()}; the metadata index must list every sample.",
        )
    return metadata.loc[counts.index].copy()


def resolve_contrast(
    metadata: pd.DataFrame,
    design: str = "~condition",
    contrast: Sequence[str] | None = None,
    ref_level: str | None = None,
) -> list[str]:
    """Return the ``[variable, tested_level, reference_level]`` contrast to test.

    Without an explicit contrast, the variable is the last term of the design (as in
    DESeq2) and the reference is ``ref_level``, else the alphabetically first level;
    the variable must then have exactly two levels, so that "the other level" is
    unambiguous. Positive log2 fold changes mean higher in the tested level.

    Parameters
    ----------
    metadata : pandas.DataFrame
        Sample metadata (only the samples that enter the fit).
    design : str
        Design formula.
    contrast : sequence of str, optional
        Explicit ``[variable, tested, reference]``.
    ref_level : str, optional
        Reference level; must agree with ``contrast[2]`` when both are given.
    """
    variables, last = design_variables(design)
    if contrast is not None:
        if len(contrast) != 3 or not all(isinstance(c, str) for c in contrast):
            raise ConfigError(
                f"DE contrast {list(contrast)!r} must be three strings "
                "[variable, tested_level, reference_level], e.g. [condition, B, A]."
            )
        variable, tested, ref = contrast
    elif last is None:
        raise ConfigError(
            f"cannot infer the tested variable from the last term of DE design {design!r}; "
            "set the contrast explicitly, e.g. de.contrast=[condition,B,A]."
        )
    else:
        variable, tested, ref = last, None, ref_level
    if variable not in variables:
        raise ConfigError(
            f"DE contrast variable {variable!r} is not in the design {design!r}; "
            "add it to the design or fix the contrast."
        )
    if variable not in metadata.columns:
        raise ConfigError(
            f"DE contrast variable {variable!r} is not a metadata column "
            f"(columns: {metadata.columns.tolist()}); fix the design or the metadata."
        )
    levels = sorted(metadata[variable].dropna().astype(str).unique())
    if ref_level is not None and ref is not None and ref_level != ref:
        raise ConfigError(
            f"DE ref_level {ref_level!r} contradicts the contrast reference {ref!r}; "
            "set only one of them or make them equal."
        )
    ref = levels[0] if ref is None and levels else ref
    if ref not in levels:
        raise ConfigError(
            f"DE reference level {ref!r} does not occur in metadata column {variable!r} "
            f"(levels present: {levels}); pick one of those levels."
        )
    if tested is None:
        others = [level for level in levels if level != ref]
        if len(others) != 1:
            raise ConfigError(
                f"metadata column {variable!r} has levels {levels}; with other than two "
                f"levels, set the contrast explicitly, e.g. de.contrast=[{variable},<tested>,{ref}]."
            )
        tested = others[0]
    elif tested not in levels or tested == ref:
        raise ConfigError(
            f"DE tested level {tested!r} must be a level of {variable!r} other than the "
            f"reference {ref!r} (levels present: {levels})."
        )
    return [variable, tested, ref]


def prepare_inputs(
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    design: str = "~condition",
    contrast: Sequence[str] | None = None,
    ref_level: str | None = None,
    continuous: Sequence[str] = (),
) -> tuple[pd.DataFrame, list[str]]:
    """Validate counts and metadata and cast the design columns for PyDESeq2.

    Every design variable not listed in ``continuous`` becomes a categorical column:
    otherwise a numeric-looking batch or cell-line code would silently be fitted as
    a slope. The tested variable's reference level is put first, so the design
    matrix coefficient ``variable[T.tested]`` is exactly the contrast (needed for
    apeGLM shrinkage). Other categorical variables keep sorted levels, as PyDESeq2
    does for string columns, so results match a direct PyDESeq2 call bit for bit.

    Returns
    -------
    metadata : pandas.DataFrame
        Design columns only, in the sample order of ``counts``.
    contrast : list of str
        Resolved ``[variable, tested, reference]``.
    """
    _validate_counts(counts)
    meta = _align_metadata(counts, metadata)
    variables, _ = design_variables(design)
    absent = [v for v in variables if v not in meta.columns]
    if absent:
        raise ConfigError(
            f"DE design {design!r} uses {absent}, which are not metadata columns "
            f"(columns: {meta.columns.tolist()}); fix the design or the metadata."
        )
    meta = meta[variables].copy()
    for var in variables:
        column = meta[var]
        if column.isna().any():
            raise DataError(
                "metadata",
                f"column {var!r} (used in the DE design) has missing values in "
                f"{int(column.isna().sum())} sample(s); fill them or drop those samples.",
            )
        if column.nunique() < 2:
            raise DataError(
                "metadata",
                f"column {var!r} (used in the DE design) has a single value "
                f"{column.iloc[0]!r} across the {len(column)} samples; it cannot be "
                "tested or adjusted for, remove it from the design.",
            )
    resolved = resolve_contrast(meta, design, contrast, ref_level)
    variable, tested, ref = resolved
    if variable in continuous:
        raise ConfigError(f"DE contrast variable {variable!r} must be categorical, not continuous.")
    for var in variables:
        if var in continuous:
            if not pd.api.types.is_numeric_dtype(meta[var]):
                raise ConfigError(f"DE covariate {var!r} is declared continuous but is not numeric.")
            meta[var] = meta[var].astype(float)
        else:
            meta[var] = pd.Categorical(meta[var].astype(str))
    others = [level for level in meta[variable].cat.categories if level != ref]
    meta[variable] = meta[variable].cat.reorder_categories([ref, *others])
    return meta, resolved


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


def run_deseq2(
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
) -> pd.DataFrame:
    """Fit DESeq2 (PyDESeq2) and return its Wald-test results table.

    Parameters are those of :func:`fit_deseq2`.

    Returns
    -------
    pandas.DataFrame
        Indexed by gene (name ``"gene"``), columns ``baseMean, log2FoldChange, lfcSE,
        stat, pvalue, padj``; genes PyDESeq2 could not test have NaN statistics.
    """
    return fit_deseq2(
        counts, metadata, design, contrast, ref_level, alpha, lfc_shrink, cooks_filter,
        independent_filter, refit_cooks, continuous, n_cpus, quiet, inference, device,
    )[0]  # fmt: skip
