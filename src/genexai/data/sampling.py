"""A shuffling sampler whose order depends only on (seed, epoch), so a resumed run replays it."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["EpochSeededSampler"]


class EpochSeededSampler(Sampler[int]):
    """Random permutation per epoch drawn from ``seed`` and the epoch number.

    A plain shuffled DataLoader draws each epoch from one generator whose state is not in
    the checkpoint, so a run resumed at epoch k would shuffle differently from an
    uninterrupted one. Lightning calls :meth:`set_epoch` before every epoch.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())

    def __len__(self) -> int:
        return self.n
