"""Stratified, seeded splits: one train/val/test split, or repeated stratified K-fold cross-validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from genexai.data.grouped import grouped_folds, grouped_split
from genexai.data.validate import MIN_SAMPLES_PER_CLASS
from genexai.errors import ConfigError, DataError

__all__ = ["cv_splits", "cv_test_folds", "fold_name", "min_samples_per_class", "split_table", "stratified_split"]


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


def fold_name(repeat: int, fold: int) -> str:
    """Directory name of one cross-validation fold: ``fold_<repeat>_<fold>`` (0-based)."""
    return f"fold_{repeat}_{fold}"


def cv_splits(
    labels: np.ndarray,
    folds: int,
    repeats: int = 1,
    val_fraction: float = 0.15,
    seed: int = 0,
    source: str = "<data>",
    groups: np.ndarray | None = None,
) -> list[tuple[str, dict[str, np.ndarray]]]:
    """Repeated stratified K-fold splits, each with a validation part carved from its training part.

    Each of the ``folds × repeats`` folds of scikit-learn's ``RepeatedStratifiedKFold``
    (seeded) is the test set once; the remaining samples are split per class into
    ``train`` and ``val`` (:func:`stratified_split` with ``val_fraction``, no test), so
    early stopping never looks at the test fold, and DE/preprocessing are fitted on
    ``train`` alone. With ``groups`` (one label per sample, ``data.groups``) the folds and
    the validation parts hold whole groups (:mod:`~genexai.data.grouped`).

    Returns
    -------
    list of (name, split)
        ``name`` = :func:`fold_name` (repeat-major order); ``split`` = sorted index
        arrays ``train``/``val``/``test`` as from :func:`stratified_split`.
    """
    from sklearn.model_selection import RepeatedStratifiedKFold

    labels = np.asarray(labels)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise ConfigError(f"data.cv.folds must be an integer >= 2 (or null for one train/val/test split), got {folds!r}")
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ConfigError(f"data.cv.repeats must be an integer >= 1, got {repeats!r}")
    classes, sizes = np.unique(labels, return_counts=True)
    if sizes.min() < folds:
        raise DataError(
            source,
            f"data.cv.folds={folds} but class {str(classes[sizes.argmin()])!r} has only {sizes.min()} samples, so some "
            f"test folds would miss it; use data.cv.folds <= {sizes.min()}",
        )
    if groups is None:
        splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        outer = list(splitter.split(np.zeros(len(labels)), labels))
    else:
        groups = np.asarray(groups)
        outer = grouped_folds(labels, groups, folds, repeats, seed, source)
    out = []
    for number, (rest, test) in enumerate(outer):
        repeat, fold = divmod(number, folds)
        if groups is None:
            inner = stratified_split(labels[rest], val_fraction=val_fraction, test_fraction=0.0, seed=seed + number, source=source)
        else:
            inner = grouped_split(labels[rest], groups[rest], val_fraction, 0.0, seed=seed + number, source=source)
        split = {
            "train": np.sort(rest[inner["train"]]).astype(np.int64),
            "val": np.sort(rest[inner["val"]]).astype(np.int64),
            "test": np.sort(test).astype(np.int64),
        }
        out.append((fold_name(repeat, fold), split))
    return out


def split_table(
    samples: Sequence[str],
    conditions: Sequence[str],
    split: Mapping[str, np.ndarray],
    groups: tuple[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """``sample, condition, split``: one row per sample, in data order — a run's ``splits.csv``.

    Written so that a reader can rerun DESeq2 or edgeR on exactly the training samples
    elsewhere, without this code. ``split`` maps a split name to row indices into ``samples``;
    ``groups`` = ``(column, values)`` of ``data.groups`` adds that column after ``condition``.
    """
    names = np.empty(len(samples), dtype=object)
    for name, index in split.items():
        names[index] = name
    columns = {"sample": list(samples), "condition": list(conditions)}
    if groups is not None:
        columns[groups[0]] = list(groups[1])
    return pd.DataFrame({**columns, "split": names})


def cv_test_folds(
    samples: Sequence[str],
    conditions: Sequence[str],
    folds: Sequence[tuple[str, Mapping[str, np.ndarray]]],
    n_folds: int,
    groups: tuple[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """``sample, condition, repeat, fold``: each sample's test fold in every repeat — a CV run's ``splits.csv``.

    ``folds`` as from :func:`cv_splits` (repeat-major); row ``(repeat r, fold k)`` names the
    directory ``fold_<r>_<k>/`` whose own ``splits.csv`` holds that fold's train/val/test.
    Repeat-major, data order within a repeat; ``groups`` as in :func:`split_table`.
    """
    n_repeats = len(folds) // n_folds
    fold = np.empty((n_repeats, len(samples)), dtype=np.int64)
    for number, (_, split) in enumerate(folds):
        repeat, k = divmod(number, n_folds)
        fold[repeat, split["test"]] = k
    columns = {"sample": list(samples) * n_repeats, "condition": list(conditions) * n_repeats}
    if groups is not None:
        columns[groups[0]] = list(groups[1]) * n_repeats
    return pd.DataFrame({
        **columns,
        "repeat": np.repeat(np.arange(n_repeats), len(samples)),
        "fold": fold.ravel(),
    })
