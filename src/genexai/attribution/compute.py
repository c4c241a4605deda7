"""Run a list of configured attribution methods on one model and input set: the one loop for every model."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import Tensor

from genexai.attribution.base import Target
from genexai.attribution.registry import get_attribution, method_class
from genexai.errors import AttributionError, ConfigError

log = logging.getLogger(__name__)

MethodConfig = str | Mapping[str, Any]


def method_configs(methods: Any) -> list[dict[str, Any]]:
    """Normalise ``["impurity", {name: permutation, n_repeats: 5}]`` (or one entry) to a list of dicts."""
    if isinstance(methods, DictConfig | ListConfig):
        methods = OmegaConf.to_container(methods, resolve=True)
    if methods is None:
        return []
    if isinstance(methods, str | Mapping):
        methods = [methods]
    configs = []
    for entry in methods:
        if isinstance(entry, str):
            configs.append({"name": entry})
        elif isinstance(entry, Mapping) and "name" in entry:
            configs.append(dict(entry))
        else:
            raise ConfigError(
                f"attribution method {entry!r} must be a name or a mapping with 'name', e.g. {{name: saliency}}"
            )
    return configs


def result_label(config: Mapping[str, Any]) -> str:
    """The name a method's result goes by: its ``label``, else its ``name``."""
    return config.get("label", config["name"])


def compute_attributions(
    model: Any,
    inputs: Tensor | np.ndarray,
    methods: Sequence[MethodConfig],
    target: Target = 1,
    seed: int = 0,
    skip_inapplicable: bool = False,
    labels: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Attribute ``inputs`` with every method in ``methods``.

    Parameters
    ----------
    model
        A torch backbone (or a wrapper with ``.backbone``) or a fitted
        :class:`~genexai.estimators.classical.ClassicalModel`; ``methods`` are looked up among
        those for its kind.
    inputs
        Standardised expression ``[n, G]``.
    methods
        Names or configs such as ``{"name": "integrated_gradients", "n_steps": 50}``; an
        optional ``"label"`` names the result (default: ``name``) so one method can be
        run with two settings.
    target, seed
        Class whose score is explained (for torch models the log-odds against the
        reference: int or per-sample tensor; ``1`` = ``z_B - z_A``) and the default seed
        for every method.
    skip_inapplicable
        Skip methods that refuse this model (attention methods or AttnLRP on the MLP,
        DeepLift on the transformer, ``tree_shap`` on a random forest, ``coefficients``
        on an RBF SVM) instead of raising ``AttributionError``; one log line lists them.
    labels
        Class indices ``[n]`` of the samples, for methods that score predictions
        (:attr:`~genexai.attribution.base.Explainer.uses_labels`, e.g. permutation).

    Returns
    -------
    attributions, info
        ``label -> array`` (``[n, G]``, or ``[G]`` for global importances) and
        ``label -> run record`` (:meth:`~genexai.attribution.base.Explainer.summary`:
        wall time, convergence delta, ...); a skipped method has no attributions and
        ``info[label] == {"skipped": reason}``.
    """
    attributions: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    for config in method_configs(methods):
        options = dict(config)
        name = options.pop("name")
        label = options.pop("label", name)
        if label in info:
            raise ConfigError(f"attribution result {label!r} appears twice; give one of them a distinct 'label'")
        options.setdefault("seed", seed)
        if method_class(name, model).uses_labels:
            if labels is None:
                raise ConfigError(f"attribution method {name!r} scores predictions against the class labels; pass labels")
            options["labels"] = labels
        try:
            method = get_attribution(name, model, **options)
        except AttributionError as err:
            if not skip_inapplicable:
                raise
            info[label] = {"skipped": str(err)}
            continue
        start = time.perf_counter()
        attributions[label] = method.attribute(inputs, target=target).numpy()
        info[label] = method.summary(time.perf_counter() - start)
    skipped = {label: item["skipped"] for label, item in info.items() if "skipped" in item}
    if skipped:
        log.info("skipping attribution methods that do not apply: %s", "; ".join(f"{k} ({v})" for k, v in skipped.items()))
    return attributions, info
