"""Run-directory files and logger records that every run writes, whatever the model kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genexai.data.datamodule import RNASeqDataModule
from genexai.estimators import FitResult
from genexai.utils.files import atomic_write

__all__ = ["log_final_metrics", "save_gene_selection", "save_splits"]


def save_gene_selection(datamodule: RNASeqDataModule, run_dir: Path) -> None:
    """Write the DE table of a DE-based gene selection (``selected`` column) as ``gene_selection.csv``."""
    table = getattr(datamodule, "selection_de", None)
    if table is not None:
        atomic_write(run_dir / "gene_selection.csv", lambda tmp: table.to_csv(tmp, index_label="gene"))


def save_splits(datamodule: RNASeqDataModule, run_dir: Path) -> None:
    """Write ``splits.csv`` (sample, condition, split): the training samples are the DE baseline's, rerunnable elsewhere."""
    table = datamodule.split_table()
    atomic_write(run_dir / "splits.csv", lambda tmp: table.to_csv(tmp, index=False))


def log_final_metrics(loggers: list, metrics: dict[str, float], fit: FitResult) -> None:
    """Send the final validation/test metrics and stage times to the Lightning loggers, as a Trainer's test would."""
    scalars: dict[str, Any] = dict(metrics)
    if fit.best_iteration is not None:
        scalars["best_iteration"] = float(fit.best_iteration)
    for logger in loggers:
        logger.log_metrics(scalars, step=fit.steps)
        logger.save()
        logger.finalize("success")
