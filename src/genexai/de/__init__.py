"""Differential expression (PyDESeq2) on raw training counts, with an on-disk cache."""

from genexai.de.cache import cache_key, cached_deseq2
from genexai.de.deseq2 import RESULT_COLUMNS, prepare_inputs, resolve_contrast, run_deseq2

__all__ = [
    "RESULT_COLUMNS",
    "cache_key",
    "cached_deseq2",
    "prepare_inputs",
    "resolve_contrast",
    "run_deseq2",
]
