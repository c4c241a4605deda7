"""Test-only pieces loaded by `train.py` subprocesses through Hydra overrides."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl


class KillAtEpochEnd(pl.Callback):
    """Send ``signal_name`` to this process at the end of training epoch ``epoch`` (after its checkpoint)."""

    def __init__(self, epoch: int, signal_name: str = "SIGKILL") -> None:
        self.epoch = epoch
        self.signal = getattr(signal, signal_name)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), self.signal)
