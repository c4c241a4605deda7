"""Differential expression baselines on raw training counts: PyDESeq2 (cached) and the Wilcoxon rank-sum test.

The names below load their module on first use (PEP 562): PyDESeq2 and torch are slow
to import, and light modules such as :mod:`genexai.de.hits` must not pull them in.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "cache_key": "cache",
    "cached_deseq2": "cache",
    "cached_deseq2_contrasts": "cache",
    "DESeq2Options": "options",
    "RESULT_COLUMNS": "options",
    "fit_deseq2": "deseq2",
    "fit_deseq2_contrasts": "deseq2",
    "deseq2_lrt": "lrt",
    "run_deseq2": "deseq2",
    "DE_METHODS": "dispatch",
    "build_de_method": "dispatch",
    "run_de": "dispatch",
    "INFERENCE_ENGINES": "engines",
    "check_de_config": "engines",
    "make_inference": "engines",
    "de_hits": "hits",
    "OMNIBUS": "inputs",
    "contrast_levels": "inputs",
    "prepare_inputs": "inputs",
    "resolve_contrast": "inputs",
    "DEMethod": "method",
    "DESeq2Method": "methods",
    "WilcoxonMethod": "methods",
    "SELECTION_MODES": "select",
    "de_ranking": "select",
    "select_de_genes": "select",
    "run_wilcoxon": "wilcoxon",
    "run_wilcoxon_contrasts": "wilcoxon",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
