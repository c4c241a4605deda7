"""The cross-dataset benchmark behind ``benchmark.py``: grid, resumable runner, summaries."""

from genexai.benchmarking.grid import Cell, cell_overrides, cells
from genexai.benchmarking.runner import RESULT_FILE, run_benchmark
from genexai.benchmarking.summary import summarise, topk_stability

__all__ = ["RESULT_FILE", "Cell", "cell_overrides", "cells", "run_benchmark", "summarise", "topk_stability"]
