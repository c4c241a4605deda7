"""Attribution methods by name, so a Hydra config (``attribution: {name: ..., **options}``) can pick them.

One registry for every kind of model: each method declares the kind it explains
(:attr:`~genexai.attribution.base.Explainer.applies_to`), and a name is only looked up
among the methods for the kind of the model at hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from genexai.attribution.base import TORCH, Explainer, model_kind
from genexai.errors import ConfigError

M = TypeVar("M", bound=type[Explainer])

_METHODS: dict[str, type[Explainer]] = {}


def register(name: str) -> Callable[[M], M]:
    """Class decorator adding an :class:`Explainer` to the registry under ``name``."""

    def add(cls: M) -> M:
        if name in _METHODS:
            raise ValueError(f"attribution method {name!r} is registered twice")
        cls.name = name
        _METHODS[name] = cls
        return cls

    return add


def available_methods(kind: str | None = TORCH) -> list[str]:
    """Registered method names for models of ``kind`` (``"torch"``, ``"classical"``; ``None``: all), sorted."""
    return sorted(name for name, cls in _METHODS.items() if kind is None or cls.applies_to == kind)


def method_class(name: str, model: Any) -> type[Explainer]:
    """The class registered as ``name``, if it explains models of ``model``'s kind.

    A name registered only for another kind of model (``impurity`` for a torch module,
    ``integrated_gradients`` for a classical model) is a configuration error, as an
    unknown name is, not an inapplicable method to skip.
    """
    kind = model_kind(model)
    cls = _METHODS.get(name)
    if cls is None or (kind is not None and cls.applies_to != kind):
        scope = f" for a {kind} model" if cls is not None else ""
        raise ConfigError(
            f"attribution method {name!r} is unknown{scope}; choose one of {', '.join(available_methods(kind))}"
        )
    return cls


def get_attribution(name: str, model: Any, **options: Any) -> Explainer:
    """Instantiate the method ``name`` for ``model`` with its ``options`` (e.g. ``n_steps=50``)."""
    cls = method_class(name, model)
    try:
        return cls(model, **options)
    except TypeError as err:  # unknown or missing option: name the method and the fix
        raise ConfigError(f"attribution method {name!r} rejected its options {sorted(options)}: {err}") from err
