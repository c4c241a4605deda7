"""Validated DE inputs: raw counts, the metadata rows of their samples, the design and the contrast.

Shared by both baselines (PyDESeq2 and the Wilcoxon test), so a wrong design or
contrast fails with the same message a biologist can act on, whichever test runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from formulaic import Formula
from formulaic.errors import FormulaicError
from formulaic.parser.types.factor import Factor

from genexai.errors import ConfigError, DataError
from genexai.utils.contrasts import OMNIBUS  # the key of the test across all levels in DEMethod.test_contrasts

__all__ = [
    "OMNIBUS", "align_metadata", "contrast_levels", "design_variables", "prepare_inputs", "reduced_design",
    "resolve_contrast", "validate_counts",
]  # fmt: skip

#: The one Python term a design may hold: formulaic's categorical coding of a metadata column.
_CATEGORICAL = re.compile(r"C\(\s*[A-Za-z_]\w*\s*\)")


def design_variables(design: str) -> tuple[list[str], str | None]:
    """Parse a design formula with the parser PyDESeq2 itself uses; refuse a term that is Python code.

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
    code = [str(factor.expr) for term in formula for factor in term.factors
            if factor.eval_method == Factor.EvalMethod.PYTHON and not _CATEGORICAL.fullmatch(str(factor.expr))]
    if code:  # formulaic evaluates such a term as Python: a design in a stranger's run config must not run code
        raise ConfigError(
            f"DE design {design!r}: {code[0]!r} is a Python expression, which the formula parser would run; "
            "a design names metadata columns, e.g. '~cell_line + condition' (a:b interactions and C(column) allowed)."
        )
    terms = [term for term in formula if term.factors]
    if not terms:
        raise ConfigError(f"DE design {design!r} has no variables; write it like '~condition'.")
    factors = terms[-1].factors
    last = None
    if len(factors) == 1 and factors[0].eval_method == Factor.EvalMethod.LOOKUP:
        last = str(factors[0].expr)
    return sorted(formula.required_variables), last


def validate_counts(counts: pd.DataFrame) -> None:
    """Raise a DataError unless ``counts`` is a non-empty samples x genes matrix of raw read counts."""
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


def align_metadata(counts: pd.DataFrame, metadata: pd.DataFrame) -> pd.DataFrame:
    """The metadata rows of the samples of ``counts``, in their order (a copy); DataError if any is missing."""
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


def contrast_levels(metadata: pd.DataFrame, design: str, ref_level: str | None) -> tuple[str, str, list[str]]:
    """The tested variable, its reference level and the levels tested against it, for every-level tests.

    The variable is the last design term (as in :func:`resolve_contrast`, which keeps refusing
    more than two levels without an explicit contrast); the reference is ``ref_level``, else
    the alphabetically first level (so that with two levels both agree). Tested levels are in
    the order of the column's categories when it is categorical (unused categories dropped:
    a subset of samples need not hold them all), else sorted.

    Raises
    ------
    ConfigError
        When the reference is missing, a level has fewer than two samples (no within-level
        variance: no test can use it) or a level is called ``omnibus`` (the key of the
        across-level test).
    """
    _, last = design_variables(design)
    if last is None:
        raise ConfigError(
            f"cannot infer the tested variable from the last term of DE design {design!r}; "
            "make the tested variable the last term, e.g. '~batch + condition'."
        )
    if last not in metadata.columns:
        raise ConfigError(
            f"DE variable {last!r} is not a metadata column (columns: {metadata.columns.tolist()}); "
            "fix the design or the metadata."
        )
    column = metadata[last].dropna()
    if isinstance(column.dtype, pd.CategoricalDtype):
        present = set(column.astype(str))
        levels = [str(level) for level in column.cat.categories if str(level) in present]
    else:
        levels = sorted(column.astype(str).unique())
    ref = ref_level if ref_level is not None else (min(levels) if levels else None)
    if ref not in levels:
        raise ConfigError(
            f"DE reference level {ref!r} does not occur in metadata column {last!r} "
            f"(levels present: {levels}); pick one of those levels."
        )
    sizes = column.astype(str).value_counts()
    for level in levels:
        if sizes[level] < 2:
            raise ConfigError(
                f"level {level!r} of {last!r} has {sizes[level]} sample(s); every level needs at least 2 "
                "to be tested: drop its samples or merge it with another level."
            )
    if OMNIBUS in levels:
        raise ConfigError(f"a level of {last!r} is called {OMNIBUS!r}, the key of the across-level test; rename it.")
    tested = [level for level in levels if level != ref]
    if not tested:
        raise ConfigError(f"metadata column {last!r} has the single level {ref!r}; nothing to test against it.")
    return last, ref, tested


def reduced_design(design: str, variable: str) -> str:
    """``design`` without the terms that involve ``variable`` (``"~1"`` when none is left): the LRT's null model."""
    formula = Formula(design)
    kept = [str(term) for term in formula if all(str(factor.expr) != variable for factor in term.factors)]
    kept = [term for term in kept if term != "1"]  # the intercept stays implicit, as in the full design
    return "~" + " + ".join(kept) if kept else "~1"


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
    validate_counts(counts)
    meta = align_metadata(counts, metadata)
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
