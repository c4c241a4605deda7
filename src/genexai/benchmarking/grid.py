"""The benchmark grid: which cells exist and the training config of each.

A cell is one (dataset, model, seed): one ``train.py evaluate=true`` run, which scores
all of the model's attribution methods against DESeq2 (and the truth, where known).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from genexai.config import CONFIG_DIR
from genexai.errors import ConfigError

__all__ = ["Cell", "cell_overrides", "cells"]

@dataclass(frozen=True)
class Cell:
    """One run of the grid."""

    dataset: str
    model: str
    seed: int

    @property
    def id(self) -> str:
        """Directory name of the cell, stable across reruns (what resuming keys on)."""
        return f"{self.dataset}__{self.model}__seed{self.seed}"


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def cells(cfg: DictConfig) -> list[Cell]:
    """Every cell of the configured grid, dataset-major (a dataset's DESeq2 fit is reused by its next cells)."""
    known = _options("data")
    unknown = [name for name in cfg.datasets if name not in known]
    if unknown:
        raise ConfigError(f"benchmark datasets {unknown} are not data configs; choose from {known}")
    if not cfg.models:
        raise ConfigError("benchmark models is empty; set e.g. models={mlp: {overrides: [model=mlp], attribution: null}}")
    return [Cell(d, m, int(s)) for d in cfg.datasets for m in cfg.models for s in cfg.seeds]


def _method(entry: str | DictConfig) -> str:
    """One attribution method as a Hydra override value: ``saliency`` or ``{name: ..., n_steps: 16}``."""
    if isinstance(entry, str):
        return f"{{name: {entry}}}"
    return "{" + ", ".join(f"{key}: {value}" for key, value in entry.items()) + "}"


def cell_overrides(cfg: DictConfig, cell: Cell, cell_dir: Path) -> list[str]:
    """Overrides of the ``train`` config that make it this cell's run, writing into ``cell_dir``."""
    model = cfg.models[cell.model]
    overrides = [
        f"data={cell.dataset}",
        *cfg.common,
        *model.overrides,
        f"seed={cell.seed}",
        f"tags=[{cell.model},{cell.dataset},seed{cell.seed}]",
        f"paths.output_dir={cell_dir}",
        f"paths.log_dir={cfg.paths.log_dir}",
        f"paths.data_dir={cfg.paths.data_dir}",
    ]
    if cfg.get("split_seed") is not None:
        overrides.append(f"data.seed={int(cfg.split_seed)}")
    if model.get("attribution"):
        methods = ", ".join(_method(entry) for entry in model.attribution)
        overrides.append(f"attribution.methods=[{methods}]")
    return overrides
