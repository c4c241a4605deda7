"""Attribution methods by name, so a Hydra config (``attribution: {name: ..., **options}``) can pick them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from genexai.attribution.base import AttributionMethod
from genexai.errors import ConfigError

M = TypeVar("M", bound=type[AttributionMethod])

_METHODS: dict[str, type[AttributionMethod]] = {}


def register(name: str) -> Callable[[M], M]:
    """Class decorator adding an :class:`AttributionMethod` to the registry under ``name``."""

    def add(cls: M) -> M:
        if name in _METHODS:
            raise ValueError(f"attribution method {name!r} is registered twice")
        cls.name = name
        _METHODS[name] = cls
        return cls

    return add


def available_methods() -> list[str]:
    """Registered method names, sorted."""
    return sorted(_METHODS)


def get_attribution(name: str, model: nn.Module, **options: Any) -> AttributionMethod:
    """Instantiate the method ``name`` for ``model`` with its ``options`` (e.g. ``n_steps=50``)."""
    if name not in _METHODS:
        raise ConfigError(f"attribution method {name!r} is unknown; choose one of {', '.join(available_methods())}")
    try:
        return _METHODS[name](model, **options)
    except TypeError as err:  # unknown or missing option: name the method and the fix
        raise ConfigError(f"attribution method {name!r} rejected its options {sorted(options)}: {err}") from err
