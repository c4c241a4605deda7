"""Binomial-thinning augmentation: fewer reads, same preprocessing, reproducible draws, training only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from genexai.pipeline.build import build_datamodule
from genexai.data.augment import ThinnedCounts
from genexai.data.preprocess import Preprocessor
from genexai.errors import ConfigError
from genexai.pipeline.train import train


@pytest.fixture
def counts() -> np.ndarray:
    return np.random.default_rng(0).poisson(200, (6, 50))


def thinned(counts: np.ndarray, seed: int = 0, max_log2: float = 1.0) -> tuple[ThinnedCounts, list[np.ndarray]]:
    """The dataset, with its transform recording the raw counts it is handed."""
    seen: list[np.ndarray] = []
    preprocessor = Preprocessor(min_count=1, n_genes="all").fit(counts, [f"g{j}" for j in range(50)])

    def transform(raw: np.ndarray) -> np.ndarray:
        seen.append(raw[0].copy())
        return preprocessor.transform(raw)

    return ThinnedCounts(counts, torch.arange(6) % 2, transform, max_log2, seed), seen


def test_each_read_is_a_fresh_thinning_within_the_depth_range(counts):
    dataset, seen = thinned(counts)
    first, second = dataset[2], dataset[2]
    assert first[1] == second[1] == 0
    assert not torch.equal(first[0], second[0])  # a new draw on every read
    for raw in seen:
        assert (raw <= counts[2]).all()
        assert 0.5 * 0.97 < raw.sum() / counts[2].sum() < 1.0  # depth cut by at most 1 log2 unit
    assert first[0].dtype == torch.float32 and first[0].shape == (50,)


def test_draws_are_reproducible_for_a_seed(counts):
    a, _ = thinned(counts, seed=3)
    b, _ = thinned(counts, seed=3)
    c, _ = thinned(counts, seed=4)
    reads_a = [a[i][0] for i in (0, 1, 0)]
    assert all(torch.equal(x, y) for x, y in zip(reads_a, [b[i][0] for i in (0, 1, 0)]))
    assert not torch.equal(reads_a[0], c[0][0])


def test_no_thinning_is_refused():
    with pytest.raises(ConfigError, match="augment_depth_log2"):
        ThinnedCounts(np.ones((2, 3), dtype=int), torch.zeros(2), lambda raw: raw, 0.0, 0)


def test_training_uses_thinned_reads_and_evaluation_the_fixed_tensors(train_cfg):
    cfg = train_cfg(["data.adata.n_samples=60", "data.adata.n_genes=200", "data.n_genes=50", "attribution=none",
                     "data.augment_depth_log2=1.0", "trainer.max_epochs=2"])  # fmt: skip
    datamodule = build_datamodule(cfg)
    datamodule.setup()
    train_set = datamodule.train_dataloader().dataset
    assert isinstance(train_set, ThinnedCounts)
    assert all(isinstance(loader.dataset, TensorDataset) for loader in (datamodule.val_dataloader(), datamodule.test_dataloader()))
    fixed = datamodule.tensors("train")[0]
    read = torch.stack([train_set[i][0] for i in range(len(train_set))])
    assert read.shape == fixed.shape and not torch.equal(read, fixed)
    # the same samples through the same (train-fitted) preprocessing: close to the originals, gene by gene
    correlation = np.corrcoef(read.flatten().numpy(), fixed.flatten().numpy())[0, 1]
    assert correlation > 0.8, correlation
    assert train(cfg)["n_genes"] == 50  # and a run trains on it end to end
