"""Run the benchmark grid cell by cell, resumably, then summarise it.

Each cell is the training pipeline itself (:func:`genexai.pipeline.train.train` with
``evaluate=true``), so the benchmark measures exactly what ``train.py`` does. A cell
is finished when its ``result.json`` exists (written atomically, last); rerunning the
benchmark skips finished cells and reruns any cell that was interrupted or failed.
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from genexai.benchmarking.grid import Cell, cell_overrides, cells
from genexai.benchmarking.summary import summarise
from genexai.cli import user_error
from genexai.config import load_config
from genexai.pipeline.train import train
from genexai.utils.files import write_json

__all__ = ["RESULT_FILE", "run_benchmark"]

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"
ERROR_FILE = "error.json"


def _result(cell: Cell, cell_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """What the summary needs from a finished cell: scores, costs and where its tables are."""
    return {
        "dataset": cell.dataset,
        "model": cell.model,
        "seed": cell.seed,
        "status": "completed",
        "test_auroc": metrics.get("test/auroc"),
        "n_genes": metrics.get("n_genes"),
        "n_train": metrics.get("n_samples", {}).get("train"),
        "seconds": {**metrics.get("time_s", {}), "de": metrics.get("eval/de_time_s")},
        "peak_rss_mib": {**metrics.get("peak_rss_mib", {}), "de": metrics.get("eval/de_peak_rss_mib")},
        "comparison": str(cell_dir / "evaluation" / "comparison.csv"),
        "importance": str(cell_dir / "importance.csv"),
    }


def run_cell(cfg: DictConfig, cell: Cell, cell_dir: Path) -> dict[str, Any]:
    """Train, attribute and evaluate one cell into ``cell_dir``; return its result record."""
    if cell_dir.exists():  # an interrupted or failed attempt: start the cell afresh
        shutil.rmtree(cell_dir)
    train_cfg = load_config("train", cell_overrides(cfg, cell, cell_dir))
    metrics = train(train_cfg)
    result = _result(cell, cell_dir, metrics)
    write_json(cell_dir / RESULT_FILE, result)
    return result


def _failure(cell: Cell, cell_dir: Path, err: Exception) -> dict[str, Any]:
    known = user_error(err)
    message = str(known) if known is not None else f"{type(err).__name__}: {err}"
    record = {"dataset": cell.dataset, "model": cell.model, "seed": cell.seed, "status": "failed", "error": message}
    write_json(cell_dir / ERROR_FILE, {**record, "traceback": traceback.format_exc()})
    log.error("benchmark cell %s failed: %s", cell.id, message)
    return record


def run_benchmark(cfg: DictConfig) -> pd.DataFrame:
    """Run every unfinished cell of the grid, then write ``benchmark.csv`` and the summaries.

    A failing cell (bad data, a crash) is recorded in its ``error.json`` and the
    benchmark goes on; it is retried on the next run.

    Returns
    -------
    pandas.DataFrame
        The rows of ``benchmark.csv``.
    """
    out_dir = Path(cfg.out_dir)
    grid = cells(cfg)
    records: list[dict[str, Any]] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("benchmark", total=len(grid))
        for cell in grid:
            cell_dir = out_dir / "cells" / cell.id
            done = cell_dir / RESULT_FILE
            progress.update(task, description=f"benchmark: {cell.id}")
            if done.is_file():
                records.append(json.loads(done.read_text()))
            else:
                try:
                    records.append(run_cell(cfg, cell, cell_dir))
                except Exception as err:  # one broken cell must not lose the others
                    records.append(_failure(cell, cell_dir, err))
                gc.collect()
            progress.advance(task)
    return summarise(records, out_dir, top_k=int(cfg.top_k))
