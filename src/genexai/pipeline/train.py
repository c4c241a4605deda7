"""The run behind ``train.py``: data → (one run | cross-validation) → run directory.

:func:`train` builds the data module and hands it to :func:`genexai.pipeline.run.run_on_datamodule`;
with ``data.cv.folds`` set it hands over to :func:`genexai.pipeline.crossval.train_cv`,
which calls the same function once per fold.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anndata as ad
import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_only

from genexai.pipeline.build import build_datamodule
from genexai.pipeline.crossval import train_cv
from genexai.pipeline.evaluate import check_de_config
from genexai.pipeline.run import RunOutcome, run_on_datamodule
from genexai.significance import check_significance_config
from genexai.utils.provenance import write_provenance
from genexai.utils.resources import measure

__all__ = ["train", "train_outcome"]

log = logging.getLogger(__name__)


def train_outcome(cfg: DictConfig, adata: ad.AnnData | None = None) -> RunOutcome | dict[str, Any]:
    """Train, test and attribute one model as configured (``adata``: these counts instead of ``cfg.data.adata``).

    Writes into ``cfg.paths.output_dir``: ``checkpoints/``, ``config.yaml`` (resolved),
    ``provenance.json`` (versions, git commit, data hashes), ``splits.csv``,
    ``importance.csv/.parquet``, ``gene_selection.csv`` (DE-based selection),
    ``metrics.json`` and, with ``evaluate=true``, ``evaluation/``. With ``data.cv.folds``
    set: one such directory per fold plus the cross-validation summary, and the summary
    metrics are returned instead of a :class:`RunOutcome`.
    """
    check_significance_config(cfg)  # fail now, not after training
    if cfg.data.get("cv") and cfg.data.cv.get("folds") and cfg.data.get("fold") is None:
        return train_cv(cfg, adata)
    if cfg.get("evaluate"):
        check_de_config(cfg.de)  # fail now, not after training
    if rank_zero_only.rank == 0:  # DDP worker processes write nothing of their own
        write_provenance(Path(cfg.paths.output_dir), cfg.data)
    pl.seed_everything(cfg.seed, workers=True)
    with measure() as data_usage:
        datamodule = build_datamodule(cfg, adata)
    return run_on_datamodule(cfg, datamodule, data_usage=data_usage)


def train(cfg: DictConfig) -> dict[str, Any]:
    """:func:`train_outcome`'s metrics (what ``train.py`` and sweepers read)."""
    outcome = train_outcome(cfg)
    return outcome.metrics if isinstance(outcome, RunOutcome) else outcome
