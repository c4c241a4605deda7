"""DE baselines as objects built from ``configs/de/*.yaml``: one interface, one ``test`` call.

A :class:`DEMethod` is constructed from the options of a DE config (``alpha``,
``lfc_shrink``, ``n_cpus``, ``inference``, ``device``, ``cache_dir``, ``pseudocount``,
``design``) and runs its test on raw counts of the training samples, returning the
table layout of :data:`~genexai.de.deseq2.RESULT_COLUMNS` and whether it came from a
cache (pertpy's ``MethodBase.compare_groups`` is the model). Every method takes every
option, so the options of one config (engine, device, cache directory) can serve
another test (``data.gene_selection=wilcoxon`` with ``de=deseq2``); a method uses the
ones that apply to it. See :mod:`genexai.de.dispatch` for the registry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

__all__ = ["DEMethod"]


@dataclass(kw_only=True)
class DEMethod(ABC):
    """A DE test of the tested variable's two levels, configured once, run by :meth:`test`;
    :meth:`test_contrasts` tests every level of a K-level variable against the reference and all at once.

    Attributes
    ----------
    design : str, optional
        Design formula; ``None`` = the design passed to :meth:`test` (the dataset's).
    alpha : float
        FDR level (DESeq2's independent filtering).
    cache_dir : path, optional
        On-disk cache of results (methods that cache); ``None`` disables it.
    lfc_shrink : bool
        apeGLM-shrunk fold changes (DESeq2).
    n_cpus : int
        Processes or threads of the fit.
    pseudocount : float
        Added to both groups' mean in the fold change (Wilcoxon).
    inference : str
        DESeq2 inference engine: ``default``, ``torch`` or ``r`` (R's DESeq2).
    device : str
        Device of the torch engine: ``cpu``, ``cuda`` or ``auto``.
    robust : bool
        Robust empirical Bayes (edgeR's ``estimateDisp``/``glmQLFit``, limma's ``eBayes``).
    pipeline : str
        DESeq2's steps: ``r`` (R DESeq2's own dispersion, GLM and filtering steps,
        :mod:`genexai.de.rfaithful`; the default) or ``pydeseq2`` (PyDESeq2's).
    """

    #: The ``name`` of the method's ``configs/de/*.yaml``.
    name: ClassVar[str] = ""

    design: str | None = None
    alpha: float = 0.05
    cache_dir: Path | str | None = None
    lfc_shrink: bool = False
    n_cpus: int = 1
    pseudocount: float = 1.0
    inference: str = "default"
    device: str = "cpu"
    robust: bool = True
    pipeline: str = "r"

    def check_available(self) -> None:
        """Raise a one-line ConfigError when the method's engine is not installed (R ones)."""

    def test(
        self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None
    ) -> tuple[pd.DataFrame, bool]:
        """Test every gene of ``counts`` (raw, samples x genes); return ``(table, cache_hit)``.

        Parameters
        ----------
        counts : pandas.DataFrame
            Raw integer counts of the training samples.
        obs : pandas.DataFrame
            Sample metadata indexed by sample, covering every row of ``counts``.
        design : str
            The dataset's design formula, used unless the method was configured with one.
        ref_level : str, optional
            Reference level of the tested variable (class 0).
        """
        return self._test(counts, obs, design=self.design or design, ref_level=ref_level)

    def test_contrasts(
        self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None
    ) -> tuple[dict[str, pd.DataFrame], bool]:
        """Every non-reference level of the tested variable against ``ref_level``, plus an omnibus test of all levels.

        For a condition with K >= 2 levels: one fit where the method has one, a test per
        contrast ``level vs ref_level`` (with two levels, the table :meth:`test` returns) and
        the method's test of all K levels at once (DESeq2's LRT, edgeR's QL F-test and
        limma's moderated F of the K − 1 level coefficients, Kruskal–Wallis).

        Parameters are those of :meth:`test`; ``ref_level=None`` = the alphabetically first level.

        Returns
        -------
        tables : dict of str to pandas.DataFrame
            ``{level: table, ..., "omnibus": table}`` in RESULT_COLUMNS layout, indexed by gene
            in ``counts``' column order; levels in the order of ``obs[variable]``'s categories
            if categorical, else sorted (see :func:`~genexai.de.inputs.contrast_levels`). The
            omnibus table's ``stat`` is the test statistic (chi-square, F or H) and its
            ``log2FoldChange`` and ``lfcSE`` are NaN.
        cache_hit : bool
            Whether the tables came from the cache.
        """
        return self._test_contrasts(counts, obs, design=self.design or design, ref_level=ref_level)

    @abstractmethod
    def _test_contrasts(
        self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None
    ) -> tuple[dict[str, pd.DataFrame], bool]:
        """Every-level tests on the resolved design."""

    @abstractmethod
    def _test(
        self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None
    ) -> tuple[pd.DataFrame, bool]:
        """The test itself, on the resolved design."""
