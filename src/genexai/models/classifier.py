"""LightningModule wrapping any backbone ``(batch, n_genes) → logits`` as a sample classifier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score

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
        gene_names: list[str] | None = None,
        class_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["backbone"])
        self.backbone = backbone(n_genes=n_genes, n_classes=n_classes)
        # ModuleDict keys cannot shadow nn.Module attributes such as `train`.
        self.metrics = nn.ModuleDict({f"{split}_": _metrics(n_classes, f"{split}/") for split in ("train", "val", "test")})

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def _step(self, batch: tuple[Tensor, Tensor], split: str) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
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
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
