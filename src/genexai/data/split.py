"""Stratified, seeded train/val/test split that guarantees every class in every split."""

from __future__ import annotations

import numpy as np

from genexai.data.validate import MIN_SAMPLES_PER_CLASS
from genexai.errors import ConfigError, DataError

__all__ = ["stratified_split", "min_samples_per_class"]


def _held_out(n: int, fraction: float) -> int:
    return max(1, round(fraction * n)) if fraction > 0 else 0


def min_samples_per_class(val_fraction: float = 0.15, test_fraction: float = 0.2) -> int:
    """Smallest class size :func:`stratified_split` accepts with these fractions."""
    for n in range(MIN_SAMPLES_PER_CLASS, 100_000):
        if n - _held_out(n, val_fraction) - _held_out(n, test_fraction) >= MIN_SAMPLES_PER_CLASS:
            return n
    raise ConfigError(
        f"data.split val_fraction={val_fraction} + test_fraction={test_fraction} leave no training samples; lower them"
    )


def stratified_split(
    labels: np.ndarray,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    source: str = "<data>",
) -> dict[str, np.ndarray]:
    """Split sample indices per class into ``train``/``val``/``test``.

    Each class contributes ``round(fraction · n_class)`` samples (at least one) to val
    and test, so small cohorts still get every class in every split; training keeps at
    least :data:`MIN_SAMPLES_PER_CLASS` per class (DESeq2 runs on the training split).
    A fraction of 0 leaves that split empty.

    Returns
    -------
    dict
        Sorted integer index arrays for ``"train"``, ``"val"`` and ``"test"``.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_test = _held_out(len(members), test_fraction)
        n_val = _held_out(len(members), val_fraction)
        n_train = len(members) - n_test - n_val
        if n_train < MIN_SAMPLES_PER_CLASS:
            raise DataError(
                source,
                f"too few samples: class {str(cls)!r} has {len(members)} sample(s), which leaves {max(n_train, 0)} for "
                f"training after {n_val} val + {n_test} test; need >= {MIN_SAMPLES_PER_CLASS + (n_val > 0) + (n_test > 0)} "
                f"per class for a train/val/test split (use a larger dataset, or lower data.split.val_fraction/test_fraction)",
            )
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    return {name: np.sort(np.concatenate(chunks)).astype(np.int64) for name, chunks in parts.items()}
