"""Run a list of configured attribution methods on one model and input set."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from genexai.attribution.base import Target
from genexai.attribution.registry import get_attribution
from genexai.attribution.table import importance_table
from genexai.errors import AttributionError, ConfigError

log = logging.getLogger(__name__)


def compute_attributions(
    model: nn.Module,
    inputs: Tensor | np.ndarray,
    methods: Sequence[Mapping[str, Any]],
    target: Target = 1,
    seed: int = 0,
    skip_inapplicable: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Attribute ``inputs`` with every method in ``methods``.

    Parameters
    ----------
    model
        Backbone (or a wrapper with ``.backbone``).
    inputs
        Standardised expression ``[n, G]``.
    methods
        Method configs such as ``{"name": "integrated_gradients", "n_steps": 50}``; an
        optional ``"label"`` names the result (default: ``name``) so one method can be
        run with two settings.
    target, seed
        Class whose log-odds against the reference are explained (int or per-sample
        tensor; ``1`` = ``z_B - z_A``) and the default seed for every method.
    skip_inapplicable
        Skip (with a log line) methods that refuse this model, e.g. attention methods or
        AttnLRP on the MLP or DeepLift on the transformer, instead of raising ``AttributionError``.

    Returns
    -------
    attributions, info
        ``label -> array [n, G]`` and ``label -> {"seconds": wall time, ...}`` with any
        convergence-delta summary (``delta_abs_mean``, ``delta_abs_max``); a skipped
        method has no attributions and ``info[label] == {"skipped": reason}``.
    """
    attributions: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    for config in methods:
        options = dict(config)
        if "name" not in options:
            raise ConfigError(f"attribution method config {options} has no 'name'; e.g. {{name: saliency}}")
        name = options.pop("name")
        label = options.pop("label", name)
        if label in info:
            raise ConfigError(f"attribution result {label!r} appears twice; give one of them a distinct 'label'")
        options.setdefault("seed", seed)
        try:
            method = get_attribution(name, model, **options)
        except AttributionError as err:
            if not skip_inapplicable:
                raise
            info[label] = {"skipped": str(err)}
            continue
        start = time.perf_counter()
        attributions[label] = method.attribute(inputs, target=target).numpy()
        info[label] = {"seconds": time.perf_counter() - start, "direction": method.direction, **method.info()}
    log_skipped(info)
    return attributions, info


def log_skipped(info: Mapping[str, Mapping[str, Any]]) -> None:
    """One log line for every method that did not apply to this model (reasons stay in ``info``/``metrics.json``)."""
    skipped = [label for label, entry in info.items() if "skipped" in entry]
    if skipped:
        log.info("attribution: %d methods do not apply to this model, skipped: %s (reasons in metrics.json)",
                 len(skipped), ", ".join(skipped))


def attribute_network(
    attribution_cfg: DictConfig, backbone: nn.Module, datamodule: Any, seed: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-gene importance table of every configured method on the configured split, for a network backbone."""
    methods = OmegaConf.to_container(attribution_cfg.methods, resolve=True)
    inputs, labels = datamodule.tensors(attribution_cfg.split)
    attributions, info = compute_attributions(
        backbone, inputs, methods, target=attribution_cfg.target, seed=seed,
        skip_inapplicable=attribution_cfg.skip_inapplicable,
    )
    directions = {label: entry.get("direction") for label, entry in info.items()}
    table = importance_table(
        attributions, labels.numpy(), datamodule.gene_names, datamodule.class_names, inputs=inputs, directions=directions
    )
    return table, info
