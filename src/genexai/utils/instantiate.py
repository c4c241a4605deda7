"""Instantiate the `callbacks` and `logger` config groups (dicts of `_target_` entries)."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

__all__ = ["instantiate_group"]


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every entry with a ``_target_`` in a dict-shaped group (``None`` → ``[]``)."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(entry) for entry in cfg.values() if isinstance(entry, DictConfig) and "_target_" in entry]
