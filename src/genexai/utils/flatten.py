"""Nested metric dicts as one level of ``"a/b"`` keys: the form W&B summaries and summary tables take."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["flatten"]


def flatten(data: Mapping[Any, Any], prefix: str = "", sep: str = "/") -> dict[str, Any]:
    """Join the keys of nested mappings with ``sep``: ``{"time_s": {"train": 1}}`` → ``{"time_s/train": 1}``.

    Parameters
    ----------
    data
        Nested mappings (``metrics.json``); any value that is not a mapping (lists,
        ``None``, numbers, strings) is a leaf and kept as it is. An empty nested
        mapping leaves no key.
    prefix
        Put before every key, followed by ``sep`` (``""``: no prefix).
    sep
        Between the keys of one path.

    Returns
    -------
    dict
        ``key path → leaf``, in the order the leaves are met. Keys are formatted with
        ``f"{key}"``. Every key of a path is kept, empty ones too (``{"": {"b": 1}}``
        → ``{"/b": 1}``), so two different paths never give the same key by dropping
        a part.
    """
    flat: dict[str, Any] = {}
    _flatten_into(flat, data, prefix or None, sep)
    return flat


def _flatten_into(flat: dict[str, Any], data: Mapping[Any, Any], head: str | None, sep: str) -> None:
    """Add the leaves of ``data`` under ``head`` (``None`` at the top, where no ``sep`` comes first)."""
    for key, value in data.items():
        name = f"{key}" if head is None else f"{head}{sep}{key}"
        if isinstance(value, Mapping):
            _flatten_into(flat, value, name, sep)
        else:
            flat[name] = value
