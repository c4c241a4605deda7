"""Lightning callbacks of genexai (configured in ``configs/callbacks/``)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch

__all__ = ["ReseedEachStep"]


class ReseedEachStep(pl.Callback):
    """Seed torch's global generator (dropout masks) from ``(seed, global step)`` before every training step.

    Checkpoints do not hold the generator state, and other code (a DataLoader iterator
    drawing its base seed, a sanity-check pass) consumes it, so without this a run resumed
    from ``last.ckpt`` would draw other dropout masks than the uninterrupted run and end
    with different metrics. With it, each step depends only on the checkpointed state and
    the step number.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: object, batch_idx: int) -> None:
        torch.manual_seed(self.seed * 1_000_003 + trainer.global_step)
