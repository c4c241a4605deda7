"""DE as a stage: methods as classes (:mod:`.methods`: DESeq2 via PyDESeq2 or the torch engine, cached; Wilcoxon), the one hit rule, gene selection."""

from genexai.de.cache import cache_key, cached_deseq2
from genexai.de.deseq2 import (
    INFERENCE_ENGINES,
    RESULT_COLUMNS,
    check_de_config,
    fit_deseq2,
    make_inference,
    run_deseq2,
)
from genexai.de.design import prepare_inputs, resolve_contrast
from genexai.de.hits import de_hits
from genexai.de.methods import DE_METHODS, DEMethod, DESeq2Method, WilcoxonMethod, build_de_method
from genexai.de.select import SELECTION_MODES, de_ranking, select_de_genes
from genexai.de.wilcoxon import run_wilcoxon

__all__ = [
    "DE_METHODS",
    "DEMethod",
    "DESeq2Method",
    "WilcoxonMethod",
    "build_de_method",
    "de_hits",
    "INFERENCE_ENGINES",
    "RESULT_COLUMNS",
    "SELECTION_MODES",
    "cache_key",
    "cached_deseq2",
    "check_de_config",
    "de_ranking",
    "fit_deseq2",
    "make_inference",
    "prepare_inputs",
    "resolve_contrast",
    "run_deseq2",
    "run_wilcoxon",
    "select_de_genes",
]
