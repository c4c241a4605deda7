"""The DE baselines in Python: DESeq2 (PyDESeq2, torch or R engine) through the on-disk cache, and the Wilcoxon rank-sum test."""

from __future__ import annotations

import pandas as pd

from genexai.de.method import DEMethod

__all__ = ["DESeq2Method", "WilcoxonMethod"]


class DESeq2Method(DEMethod):
    """PyDESeq2 (:func:`~genexai.de.cache.cached_deseq2`): ``alpha`` drives its independent
    filtering; ``lfc_shrink``, ``n_cpus``, ``cache_dir``, ``inference``, ``device``, ``pipeline`` apply."""

    name = "deseq2"

    def check_available(self) -> None:
        if self.inference == "r":
            from genexai.de.r.session import require_r

            require_r(("DESeq2",), method="de.inference=r")

    def _test(
        self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None
    ) -> tuple[pd.DataFrame, bool]:
        from genexai.de.cache import cached_deseq2  # late: PyDESeq2 is slow to import

        return cached_deseq2(
            counts, obs, cache_dir=self.cache_dir, design=design, ref_level=ref_level, alpha=self.alpha,
            lfc_shrink=self.lfc_shrink, n_cpus=self.n_cpus, inference=self.inference, device=self.device,
            pipeline=self.pipeline,
        )  # fmt: skip

    def _test_contrasts(
        self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None
    ) -> tuple[dict[str, pd.DataFrame], bool]:
        from genexai.de.cache import cached_deseq2_contrasts

        return cached_deseq2_contrasts(
            counts, obs, cache_dir=self.cache_dir, design=design, ref_level=ref_level, alpha=self.alpha,
            lfc_shrink=self.lfc_shrink, n_cpus=self.n_cpus, inference=self.inference, device=self.device,
            pipeline=self.pipeline,
        )  # fmt: skip


class WilcoxonMethod(DEMethod):
    """Wilcoxon rank-sum test (:func:`~genexai.de.wilcoxon.run_wilcoxon`): ``pseudocount``
    applies; fast enough to need no cache (``cache_hit`` is always False)."""

    name = "wilcoxon"

    def _test(
        self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None
    ) -> tuple[pd.DataFrame, bool]:
        from genexai.de.wilcoxon import run_wilcoxon

        return run_wilcoxon(counts, obs, design=design, ref_level=ref_level, pseudocount=self.pseudocount), False

    def _test_contrasts(
        self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None
    ) -> tuple[dict[str, pd.DataFrame], bool]:
        from genexai.de.wilcoxon import run_wilcoxon_contrasts

        tables = run_wilcoxon_contrasts(counts, obs, design=design, ref_level=ref_level, pseudocount=self.pseudocount)
        return tables, False
