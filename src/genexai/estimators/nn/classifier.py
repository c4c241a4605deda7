"""LightningModule wrapping any backbone ``(batch, n_genes) → logits`` as a sample classifier."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score

from genexai.errors import ConfigError

__all__ = ["GeneClassifier"]


def _metrics(n_classes: int, prefix: str) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes=n_classes, average="micro"),
            "auroc": MulticlassAUROC(num_classes=n_classes),
            "f1": MulticlassF1Score(num_classes=n_classes, average="macro"),
        },
        prefix=prefix,
    )


class GeneClassifier(pl.LightningModule):
    """Cross-entropy training of a backbone, with accuracy, AUROC and F1 per split.

    Parameters
    ----------
    backbone
        A factory ``backbone(n_genes=..., n_classes=...) -> nn.Module`` (a Hydra
        ``_partial_`` config), so the input width comes from the data, not the config.
    n_genes, n_classes
        Filled in from the DataModule after preprocessing.
    lr, weight_decay
        AdamW settings.
    label_smoothing
        Cross-entropy label smoothing: on tens of samples a model can fit the training
        labels exactly, and smoothing keeps its logits (and gradients) from diverging.
    schedule, warmup_fraction
        ``"constant"`` learning rate, or ``"cosine"``: linear warm-up over
        ``warmup_fraction`` of the planned steps, then cosine decay to 0 (per step).
    gene_names, class_names
        Stored in the checkpoint so a model is never applied to another gene set.
    """

    def __init__(
        self,
        backbone: Callable[..., nn.Module],
        n_genes: int,
        n_classes: int,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        label_smoothing: float = 0.0,
        schedule: Literal["constant", "cosine"] = "constant",
        warmup_fraction: float = 0.1,
        gene_names: list[str] | None = None,
        class_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        if schedule not in ("constant", "cosine"):
            raise ConfigError(f"model.schedule={schedule!r} is unknown; use 'constant' or 'cosine'")
        self.save_hyperparameters(ignore=["backbone"])
        self.backbone = backbone(n_genes=n_genes, n_classes=n_classes)
        # ModuleDict keys cannot shadow nn.Module attributes such as `train`.
        self.metrics = nn.ModuleDict({f"{split}_": _metrics(n_classes, f"{split}/") for split in ("train", "val", "test")})

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def _step(self, batch: tuple[Tensor, Tensor], split: str) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing if split == "train" else 0.0)
        metrics = self.metrics[f"{split}_"]
        metrics.update(logits.softmax(dim=-1), y)
        self.log(f"{split}/loss", loss, on_step=False, on_epoch=True, prog_bar=split != "test", batch_size=len(y), sync_dist=True)
        return loss

    def _log_epoch(self, split: str) -> None:
        metrics = self.metrics[f"{split}_"]
        self.log_dict(metrics.compute(), prog_bar=split == "val", sync_dist=True)  # already reduced; silences DDP
        metrics.reset()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        if self.hparams.schedule == "constant":
            return optimizer
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = max(1, round(self.hparams.warmup_fraction * total))

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
