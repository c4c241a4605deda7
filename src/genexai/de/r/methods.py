"""R's engines as DE baselines: edgeR quasi-likelihood and limma-voom (R's DESeq2: :mod:`~genexai.de.r.deseq2`).

Inputs are validated and the contrast resolved by the same code as PyDESeq2's
(:func:`~genexai.de.inputs.prepare_inputs`: reference level first, covariates as
factors), so ``de=edger`` and ``de=deseq2`` test the same contrast on the same design.
Results are cached like DESeq2's, keyed by the R and package versions.
"""

from __future__ import annotations

from typing import ClassVar

import pandas as pd

from genexai.de.inputs import OMNIBUS, align_metadata, contrast_levels, prepare_inputs
from genexai.de.options import RESULT_COLUMNS, split_tables
from genexai.de.method import DEMethod
from genexai.de.r import scripts
from genexai.de.r.session import call_r, r_versions, require_r

__all__ = ["EdgeRMethod", "LimmaVoomMethod"]


class _RMethod(DEMethod):
    """A DE method whose test is one R function of :mod:`~genexai.de.r.scripts`."""

    packages: ClassVar[tuple[str, ...]] = ("edgeR", "limma")
    source: ClassVar[str] = ""
    #: The every-level R function (:meth:`~genexai.de.method.DEMethod.test_contrasts`).
    contrasts_source: ClassVar[str] = ""

    def check_available(self) -> None:
        require_r(self.packages, method=f"de={self.name}")

    def _test(
        self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None
    ) -> tuple[pd.DataFrame, bool]:
        from genexai.de.cache import cached_fit, content_key, design_fingerprint  # late: pyarrow, PyDESeq2

        meta, (variable, tested, reference) = prepare_inputs(counts, obs, design, None, ref_level)
        self.check_available()
        arguments = {"design": design, "variable": variable, "tested": tested, "robust": bool(self.robust)}
        key = None
        if self.cache_dir is not None:
            options = {"method": self.name, "versions": r_versions(self.packages), "contrast": [variable, tested, reference],
                       **arguments, **design_fingerprint(counts, meta)}  # fmt: skip
            key = content_key(options, counts)

        def fit() -> pd.DataFrame:
            return call_r(self.source, counts, meta, **arguments).loc[:, list(RESULT_COLUMNS)]

        return cached_fit(self.cache_dir, self.name, key, counts.columns, fit)

    def _test_contrasts(
        self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None
    ) -> tuple[dict[str, pd.DataFrame], bool]:
        from genexai.de.cache import cached_tables, design_fingerprint  # late: pyarrow, PyDESeq2

        variable, reference, tested = contrast_levels(align_metadata(counts, obs), design, ref_level)
        meta, _ = prepare_inputs(counts, obs, design, [variable, tested[0], reference])
        self.check_available()
        keys = [*tested, OMNIBUS]
        arguments = {"design": design, "variable": variable, "tested": tested, "robust": bool(self.robust)}
        options = {}
        if self.cache_dir is not None:
            options = {"method": self.name, "versions": r_versions(self.packages), "contrast": [variable, reference],
                       **arguments, **design_fingerprint(counts, meta)}  # fmt: skip

        def fit() -> dict[str, pd.DataFrame]:
            return split_tables(call_r(self.contrasts_source, counts, meta, keys=keys, **arguments), keys)

        return cached_tables(self.cache_dir, self.name, options, counts, keys, fit)


class EdgeRMethod(_RMethod):
    """edgeR's quasi-likelihood test (``filterByExpr``, TMM, ``estimateDisp``, ``glmQLFit``,
    ``glmQLFTest``; ``robust`` as in edgeR's user guide); ``cache_dir`` applies. Omnibus:
    ``glmQLFTest`` of all K − 1 level coefficients (``stat`` = F)."""

    name = "edger"
    packages = ("edgeR",)
    source = scripts.EDGER_QL
    contrasts_source = scripts.EDGER_QL_CONTRASTS


class LimmaVoomMethod(_RMethod):
    """limma-voom (``filterByExpr``, TMM, ``voom``, ``lmFit``, ``eBayes``; ``robust`` is
    ``eBayes``'s); ``cache_dir`` applies. Omnibus: ``topTable`` of all K − 1 level coefficients
    (``stat`` = moderated F)."""

    name = "limma_voom"
    packages = ("edgeR", "limma")
    source = scripts.LIMMA_VOOM
    contrasts_source = scripts.LIMMA_VOOM_CONTRASTS
