"""One entry point for the DE baselines: the registry, :func:`build_de_method`, and :func:`run_de`.

Callers must pass the TRAINING samples only (see
:class:`~genexai.data.datamodule.RNASeqDataModule`); a test that saw the test samples
makes any gene list chosen from it look better than it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import pandas as pd

from genexai.de.method import DEMethod
from genexai.de.methods import DESeq2Method, WilcoxonMethod
from genexai.de.r.methods import EdgeRMethod, LimmaVoomMethod
from genexai.errors import ConfigError

__all__ = ["DE_METHODS", "REGISTRY", "build_de_method", "run_de"]

#: The DE methods by name (the ``name`` of ``configs/de/*.yaml``).
REGISTRY: dict[str, type[DEMethod]] = {
    cls.name: cls for cls in (DESeq2Method, WilcoxonMethod, EdgeRMethod, LimmaVoomMethod)
}
#: Their names.
DE_METHODS: tuple[str, ...] = tuple(REGISTRY)
#: The options a DE config may set for a method (the constructor's keywords); the other keys
#: of a ``de`` config (``name``, ``genes``: which genes the evaluation fits) are not the test's.
OPTIONS: tuple[str, ...] = tuple(field.name for field in fields(DEMethod))


def build_de_method(de_cfg: Mapping[str, Any], name: str | None = None, **overrides: Any) -> DEMethod:
    """The DE method a ``de`` config describes.

    Parameters
    ----------
    de_cfg : mapping
        A ``configs/de/*.yaml`` (an OmegaConf node or a dict); its :data:`OPTIONS` keys
        go to the constructor (others are ignored).
    name : str, optional
        The method to build instead of ``de_cfg["name"]`` (default ``deseq2``), e.g. the
        ``data.gene_selection`` test reusing the ``de`` config's engine, device and cache.
    **overrides
        Options that replace the config's (e.g. the ``alpha`` of ``data.de_selection``).

    Raises
    ------
    ConfigError
        For an unknown method name.
    """
    method = name if name is not None else de_cfg.get("name", "deseq2")
    if method not in REGISTRY:
        raise ConfigError(
            f"unknown DE method {method!r}; choose one of {list(DE_METHODS)} (e.g. de=deseq2, de=edger)"
        )
    options = {key: de_cfg[key] for key in OPTIONS if key in de_cfg}
    return REGISTRY[method](**{**options, **overrides})


def run_de(
    method: str,
    counts: pd.DataFrame,
    metadata: pd.DataFrame,
    *,
    design: str = "~condition",
    ref_level: str | None = None,
    **options: Any,
) -> tuple[pd.DataFrame, bool]:
    """Run DE baseline ``method`` on raw counts; return ``(table, cache_hit)``.

    The same as ``build_de_method({}, method, **options).test(counts, metadata, design=design,
    ref_level=ref_level)``, kept while callers move to the method objects; ``options`` are the :class:`~genexai.de.method.DEMethod`
    constructor's (``alpha``, ``cache_dir``, ``lfc_shrink``, ``n_cpus``, ``pseudocount``,
    ``inference``, ``device``).
    """
    return build_de_method({}, method, **options).test(counts, metadata, design=design, ref_level=ref_level)
