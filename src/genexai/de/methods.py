"""DE methods as classes, built from ``configs/de/*.yaml`` (pertpy's ``MethodBase.compare_groups`` shape).

Every method answers one question the same way: ``test(counts, obs, design=, ref_level=)``
→ ``(table, cache_hit)`` with DESeq2's result columns, on the raw counts it is given
(the caller passes the training samples only). :func:`build_de_method` is the one
registry lookup; ``name`` overrides the config's, so a DE-based gene selection reuses
``${de}``'s engine, device and cache with another test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pandas as pd

from genexai.errors import ConfigError

__all__ = ["DE_METHODS", "DEMethod", "DESeq2Method", "WilcoxonMethod", "build_de_method"]


class DEMethod:
    """A DE test on raw counts; options are the ``configs/de/<name>.yaml`` keys it reads."""

    name: ClassVar[str]

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)

    def test(self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None) -> tuple[pd.DataFrame, bool]:
        """DE table (index = genes; ``baseMean, log2FoldChange, lfcSE, stat, pvalue, padj``) and whether it was cached."""
        raise NotImplementedError


class DESeq2Method(DEMethod):
    """PyDESeq2 (``inference=default``) or the batched torch engine, through the on-disk cache."""

    name = "deseq2"

    def test(self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None) -> tuple[pd.DataFrame, bool]:
        from genexai.de.cache import cached_deseq2  # PyDESeq2 is slow to import; only DESeq2 needs it

        o = self.options
        return cached_deseq2(
            counts, obs, cache_dir=o.get("cache_dir"), design=design, ref_level=ref_level, alpha=o.get("alpha", 0.05),
            lfc_shrink=o.get("lfc_shrink", False), n_cpus=o.get("n_cpus", 1), inference=o.get("inference", "default"),
            device=o.get("device", "cpu"),
        )


class WilcoxonMethod(DEMethod):
    """Rank-sum test on size-factor-normalised counts, BH-adjusted; fast enough to need no cache."""

    name = "wilcoxon"

    def test(self, counts: pd.DataFrame, obs: pd.DataFrame, *, design: str, ref_level: str | None) -> tuple[pd.DataFrame, bool]:
        from genexai.de.wilcoxon import run_wilcoxon

        return run_wilcoxon(counts, obs, design=design, ref_level=ref_level, pseudocount=self.options.get("pseudocount", 1.0)), False


_REGISTRY: dict[str, type[DEMethod]] = {cls.name: cls for cls in (DESeq2Method, WilcoxonMethod)}
#: Methods :func:`build_de_method` knows (the ``name`` of ``configs/de/*.yaml``).
DE_METHODS = tuple(_REGISTRY)


def build_de_method(de_cfg: Mapping[str, Any], name: str | None = None) -> DEMethod:
    """The DE method of a ``de`` config (``name`` overrides ``de_cfg['name']``)."""
    method = name or de_cfg.get("name", "deseq2")
    if method not in _REGISTRY:
        raise ConfigError(f"unknown DE method {method!r}; choose one of {list(DE_METHODS)} (de=deseq2 or de=wilcoxon)")
    return _REGISTRY[method](de_cfg)
