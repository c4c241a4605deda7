"""Count-level augmentation: each training sample re-drawn at a lower sequencing depth every time it is read.

Binomial thinning (Gerard 2020, the operation seqgendiff uses to plant effects) of a sample's
raw counts, ``x' ~ Binomial(x, p)`` with ``p = 2^-u``, ``u ~ Uniform(0, max_log2)``, is exactly
what sequencing the same library less deeply would have produced. After the train-fitted
preprocessing (size factors, ``log1p``, standardisation) the depth itself is normalised away
and what remains is the counting noise a real replicate at that depth carries, largest on
lowly expressed genes: a label-preserving augmentation for cohorts of tens of samples. It is
applied to raw counts before the preprocessing, which stays the one fitted on the original
training samples, and only to the training split.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from genexai.errors import ConfigError

__all__ = ["ThinnedCounts"]


class ThinnedCounts(Dataset):
    """Training samples whose raw counts are binomially thinned afresh on every read.

    Parameters
    ----------
    counts
        Raw integer counts of the training samples, all genes in the preprocessor's column order.
    labels
        Integer class labels.
    transform
        The train-fitted ``Preprocessor.transform`` (raw counts -> standardised input).
    max_log2
        Largest depth reduction in log2 units (1 = down to half the reads).
    seed
        Draw ``d`` of sample ``i`` uses the generator seeded ``(seed, i, d)``, so a run is
        reproducible for a given order of reads (single-process loading).
    """

    def __init__(
        self,
        counts: np.ndarray,
        labels: torch.Tensor,
        transform: Callable[[np.ndarray], np.ndarray],
        max_log2: float,
        seed: int,
    ) -> None:
        if not max_log2 > 0:
            raise ConfigError(f"data.augment_depth_log2 must be > 0 to thin counts, got {max_log2}")
        self.counts = np.asarray(counts, dtype=np.int64)
        self.labels = labels
        self.transform = transform
        self.max_log2 = float(max_log2)
        self.seed = int(seed)
        self._draws = np.zeros(len(self.counts), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.counts)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index, int(self._draws[index])])
        self._draws[index] += 1
        keep = 2.0 ** -rng.uniform(0.0, self.max_log2)
        thinned = rng.binomial(self.counts[index], keep)
        return torch.from_numpy(self.transform(thinned[None, :])[0]), self.labels[index]
