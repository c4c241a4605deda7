"""GeneClassifier's training options: the cosine schedule with warm-up, label smoothing."""

from __future__ import annotations

import functools

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from genexai.errors import ConfigError
from genexai.estimators.nn.classifier import GeneClassifier
from genexai.estimators.nn.mlp import MLP


class RecordLR(pl.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def fit(**options) -> tuple[GeneClassifier, list[float]]:
    torch.manual_seed(0)
    x, y = torch.randn(40, 6), torch.arange(40) % 2
    model = GeneClassifier(functools.partial(MLP, hidden_dims=[8]), n_genes=6, n_classes=2, lr=0.01, **options)
    record = RecordLR()
    trainer = pl.Trainer(max_epochs=5, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[record], accelerator="cpu")
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=4))  # 10 steps per epoch, 50 in all
    return model, record.lrs


def test_cosine_schedule_warms_up_then_decays_to_zero():
    _, lrs = fit(schedule="cosine", warmup_fraction=0.2)
    assert len(lrs) == 50
    assert lrs[0] == pytest.approx(0.01 / 10) and lrs[9] == pytest.approx(0.01)  # 10 warm-up steps
    assert max(lrs) == pytest.approx(0.01) and all(b <= a for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[-1] < 0.01 * 0.01


def test_constant_schedule_keeps_the_learning_rate():
    _, lrs = fit()
    assert set(lrs) == {0.01}


def test_label_smoothing_is_a_training_loss_only(monkeypatch):
    model = GeneClassifier(functools.partial(MLP, hidden_dims=[8]), n_genes=6, n_classes=2, label_smoothing=0.2)
    model.eval()  # no dropout: every call sees the same logits
    monkeypatch.setattr(model, "log", lambda *args, **kwargs: None)
    x, y = torch.randn(8, 6), torch.arange(8) % 2
    logits = model(x)
    train, val = model._step((x, y), "train"), model._step((x, y), "val")
    torch.testing.assert_close(train, torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.2))
    torch.testing.assert_close(val, torch.nn.functional.cross_entropy(logits, y))  # early stopping sees the plain loss
    assert not torch.isclose(train, val)
    with pytest.raises(ConfigError, match="schedule"):
        GeneClassifier(functools.partial(MLP, hidden_dims=[8]), n_genes=6, n_classes=2, schedule="linear")
