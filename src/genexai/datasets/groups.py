"""K-group designs shared by the simulator and the spike-in builder.

Both builders split samples into ``n_groups`` levels, plant effects of every
non-reference level against the reference (the first level), and report the truth in
``var``. These helpers hold the rules once: the level names, the random near-equal split,
and the truth columns — whose two-group form is the historical one (``is_de``,
``true_log2fc``), so that two-group datasets stay byte-identical to earlier versions.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np

from genexai.errors import ConfigError

__all__ = ["group_levels", "random_groups", "truth_columns"]


def group_levels(n_groups: int, class_names: Sequence[str] | None = None) -> list[str]:
    """Names of the ``n_groups`` levels, reference first: ``class_names``, or "A", "B", "C", ...

    Raises :class:`ConfigError` unless ``n_groups >= 2`` and ``class_names`` (when
    given) has ``n_groups`` distinct entries.
    """
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or n_groups < 2:
        raise ConfigError(f"n_groups must be an integer >= 2, got {n_groups!r}")
    if class_names is None:
        if n_groups > len(string.ascii_uppercase):
            raise ConfigError(f"n_groups={n_groups}: give class_names for more than 26 groups")
        return list(string.ascii_uppercase[:n_groups])
    levels = [str(name) for name in class_names]
    if len(levels) != n_groups or len(set(levels)) != n_groups:
        raise ConfigError(f"class_names {levels} must be {n_groups} distinct names, one per group (n_groups={n_groups})")
    return levels


def random_groups(rng: np.random.Generator, n_samples: int, n_groups: int) -> np.ndarray:
    """Group code (0 = reference) per sample: a random split into near-equal groups.

    Sizes differ by at most one, the first levels taking the remainder. One permutation is
    drawn and cut into consecutive blocks, the non-reference levels first: with two groups
    level 1 is ``permutation[: n // 2]`` — the spike-in's split from before K groups existed,
    so its random stream is unchanged.
    """
    sizes = np.full(n_groups, n_samples // n_groups)
    sizes[: n_samples % n_groups] += 1
    order = np.r_[np.arange(1, n_groups), 0]
    codes = np.empty(n_samples, dtype=np.int64)
    codes[rng.permutation(n_samples)] = np.repeat(order, sizes[order])
    return codes


def truth_columns(is_de: np.ndarray, log2fc: np.ndarray, levels: Sequence[str]) -> dict[str, np.ndarray]:
    """The planted truth as ``var`` columns, from per-contrast masks and effects (non-reference levels × genes).

    Two groups: ``is_de`` and ``true_log2fc`` (level 1 vs reference), as always. More:
    ``is_de`` (DE in any contrast) and, per non-reference level ``k``, ``is_de_<k>`` and
    ``true_log2fc_<k>`` (k vs reference). A single ``true_log2fc`` is not written then:
    with several contrasts it would be ambiguous.
    """
    if len(levels) == 2:
        return {"is_de": is_de[0], "true_log2fc": log2fc[0]}
    columns: dict[str, np.ndarray] = {"is_de": is_de.any(axis=0)}
    for k, level in enumerate(levels[1:]):
        columns[f"is_de_{level}"] = is_de[k]
        columns[f"true_log2fc_{level}"] = log2fc[k]
    return columns
