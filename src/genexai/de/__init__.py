"""Differential expression (PyDESeq2) on raw training counts, with an on-disk cache."""

from genexai.de.cache import cache_key, cached_deseq2
from genexai.de.deseq2 import (
    INFERENCE_ENGINES,
    RESULT_COLUMNS,
    check_de_config,
    fit_deseq2,
    make_inference,
    prepare_inputs,
    resolve_contrast,
    run_deseq2,
)

__all__ = [
    "INFERENCE_ENGINES",
    "RESULT_COLUMNS",
    "cache_key",
    "cached_deseq2",
    "check_de_config",
    "fit_deseq2",
    "make_inference",
    "prepare_inputs",
    "resolve_contrast",
    "run_deseq2",
]
