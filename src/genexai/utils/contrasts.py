"""How results of a condition with K > 2 levels are laid out: one contrast per non-reference level, plus the omnibus.

Every stage names its per-contrast rows the same way, so the comparison can join an
attribution ranking to the DE table of the same contrast by one column: ``contrast`` =
the tested level (class ``k`` against the reference class 0), or :data:`OMNIBUS` for
the class-agnostic rows (the omnibus DE test across all levels; an attribution
method's maximum importance over the contrasts). Two-level data has no such column,
so its files stay exactly as they were.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CONTRAST", "OMNIBUS", "contrast_names", "is_multiclass"]

#: Column naming the contrast of a row in long-form tables (``importance.csv``, ``de.csv``, ``comparison.csv``).
CONTRAST = "contrast"
#: The class-agnostic contrast: the omnibus DE test, and the attributions' maximum over contrasts.
OMNIBUS = "omnibus"


def is_multiclass(class_names: Sequence[str]) -> bool:
    """More than two classes: results come per contrast."""
    return len(class_names) > 2


def contrast_names(class_names: Sequence[str]) -> list[str]:
    """The per-contrast names (every non-reference level, in class order) followed by :data:`OMNIBUS`."""
    return [str(name) for name in class_names[1:]] + [OMNIBUS]
