"""Group-aware splits: every sample of a group (a patient, a donor, a cell line) on one side.

Paired designs (tumour and normal tissue of one patient, before/after of one donor) make
samples of a group near-duplicates of each other; a model tested on the partner of a
training sample is graded on what it memorised. ``data.groups=<column>`` keeps each
group's samples in one split or fold, using scikit-learn's ``StratifiedGroupKFold``
(class balance kept as far as whole groups allow).
"""

from __future__ import annotations

import numpy as np

from genexai.data.validate import MIN_SAMPLES_PER_CLASS
from genexai.errors import DataError

__all__ = ["grouped_folds", "grouped_split"]


def _check_groups(groups: np.ndarray, n_splits: int, source: str, what: str) -> None:
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise DataError(
            source,
            f"data.groups: {n_groups} groups cannot fill the {n_splits} parts of {what}; "
            "use fewer folds, larger fractions, or no data.groups",
        )


def _one_fold(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``(rest, held_out)`` positions: the first fold of a stratified group K-fold with K = round(1 / fraction)."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, round(1 / fraction))
    _check_groups(groups, n_splits, source, f"a {fraction:g} held-out fraction")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    rest, held_out = next(splitter.split(np.zeros(len(labels)), labels, groups))
    return rest, held_out


def grouped_split(
    labels: np.ndarray,
    groups: np.ndarray,
    val_fraction: float = 0.15,
    test_fraction: float = 0.2,
    seed: int = 0,
    source: str = "<data>",
) -> dict[str, np.ndarray]:
    """Train/val/test positions with whole groups in each, about the given fractions of the samples.

    The test part is one fold of ``StratifiedGroupKFold(round(1 / test_fraction))``, the
    validation part one fold of the rest at ``val_fraction / (1 - test_fraction)``; a fraction
    of 0 leaves that part empty. Every class keeps :data:`MIN_SAMPLES_PER_CLASS` training
    samples and appears in every non-empty part, or a DataError says which class is short.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    everything = np.arange(len(labels))
    rest, test = (everything, everything[:0])
    if test_fraction > 0:
        rest, test = _one_fold(labels, groups, test_fraction, seed, source)
    train, val = rest, rest[:0]
    if val_fraction > 0:
        inner_train, inner_val = _one_fold(labels[rest], groups[rest], val_fraction / (1 - test_fraction), seed + 1, source)
        train, val = rest[inner_train], rest[inner_val]
    parts = {"train": train, "val": val, "test": test}
    for cls in np.unique(labels):
        for name, index in parts.items():
            needed = MIN_SAMPLES_PER_CLASS if name == "train" else int(len(index) > 0)
            have = int((labels[index] == cls).sum())
            if have < needed:
                raise DataError(
                    source,
                    f"data.groups: class {str(cls)!r} has {have} sample(s) in the {name} split of whole groups (need "
                    f">= {needed}); lower data.split fractions, use more groups, or drop data.groups",
                )
    return {name: np.sort(index).astype(np.int64) for name, index in parts.items()}


def grouped_folds(
    labels: np.ndarray, groups: np.ndarray, folds: int, repeats: int, seed: int, source: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(rest, test)`` positions of ``repeats`` x ``folds`` stratified group K-folds (repeat-major).

    Repeat ``r`` shuffles groups with seed ``seed + r`` (``StratifiedGroupKFold`` has no
    repeated variant); each test fold holds whole groups.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    labels, groups = np.asarray(labels), np.asarray(groups)
    _check_groups(groups, folds, source, f"data.cv.folds={folds}")
    out = []
    for repeat in range(repeats):
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        out.extend(splitter.split(np.zeros(len(labels)), labels, groups))
    for _, test in out:
        missing = sorted(set(np.unique(labels)) - set(np.unique(labels[test])))
        if missing:
            raise DataError(
                source,
                f"data.groups: a test fold of whole groups has no sample of class {str(missing[0])!r}; "
                f"use fewer than data.cv.folds={folds} folds",
            )
    return out
