"""The attribution stage's entry point: one importance table for a torch backbone or a classical model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from genexai.attribution.base import CLASSICAL, model_kind
from genexai.attribution.compute import MethodConfig, compute_attributions, method_configs, result_label
from genexai.attribution.registry import available_methods, method_class
from genexai.attribution.table import classical_importance_table, omnibus_rows
from genexai.errors import AttributionError, ConfigError
from genexai.utils.contrasts import CONTRAST, is_multiclass

__all__ = ["attribute", "attribute_classical", "available_importance_methods", "compute_classical_importance"]


def attribute(
    attribution_cfg: DictConfig | Mapping[str, Any],
    explained: Any,
    datamodule: Any,
    seed: int,
    methods: Sequence[MethodConfig] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-gene importance table of every configured method, for either kind of model.

    Parameters
    ----------
    attribution_cfg
        The ``attribution`` config: ``split`` (default ``train``), ``target`` (default 1),
        ``skip_inapplicable`` (default true) and, for a torch model, ``methods``.
    explained
        A torch classifier backbone ``(B, G) -> (B, n_classes)`` in eval mode (e.g.
        ``model.backbone.cpu().eval()``), or a fitted
        :class:`~genexai.estimators.classical.ClassicalModel`.
    datamodule
        Set-up data module: ``tensors(split)``, ``gene_names``, ``class_names``.
    seed
        Default seed of every method.
    methods
        Overrides the configured methods.

    Returns
    -------
    table, info
        The tidy table (:func:`~genexai.attribution.table.classical_importance_table`
        columns, methods in configured order, each by rank) and ``label -> run record``
        (``{"skipped": reason}`` for a skipped method). With more than two classes every
        method explains each class ``k`` against the reference class 0 (``attribution.target``
        is then unused): a first column ``contrast`` (the tested level) holds one block per
        method and contrast, followed by the ``omnibus`` rows of
        :func:`~genexai.attribution.table.omnibus_rows`; ``seconds`` in a run record is then
        the total over the contrasts and ``contrasts`` their number.

    Notes
    -----
    A torch model runs ``attribution.methods`` on ``attribution.split``. A classical
    model runs its own ``importance_methods`` (the model config; ``attribution.methods``
    are neural attributions), refuses data with another gene set, and each method may
    name its own ``split`` (e.g. ``{name: permutation, split: test}``), recorded in its
    run record.
    """
    if isinstance(attribution_cfg, DictConfig):
        attribution_cfg = OmegaConf.to_container(attribution_cfg, resolve=True)
    if not is_multiclass(datamodule.class_names):
        return _attribute_target(attribution_cfg, explained, datamodule, seed, methods, attribution_cfg.get("target", 1))
    tables, info = [], {}
    for target, level in enumerate(datamodule.class_names[1:], start=1):
        table, target_info = _attribute_target(attribution_cfg, explained, datamodule, seed, methods, target)
        tables.append(table.assign(**{CONTRAST: level}))
        for label, item in target_info.items():
            if label not in info:
                info[label] = {**item, "contrasts": 1}
                continue
            info[label]["contrasts"] += 1
            if "seconds" in item:
                info[label]["seconds"] += item["seconds"]
    per_contrast = pd.concat(tables, ignore_index=True)
    if per_contrast.empty:
        return per_contrast, info
    columns = [CONTRAST, *[c for c in per_contrast.columns if c != CONTRAST]]
    return pd.concat([per_contrast, omnibus_rows(per_contrast)], ignore_index=True)[columns], info


def _attribute_target(
    attribution_cfg: Mapping[str, Any],
    explained: Any,
    datamodule: Any,
    seed: int,
    methods: Sequence[MethodConfig] | None,
    target: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`attribute` for one explained class ``target`` (against the reference class 0)."""
    classical = model_kind(explained) == CLASSICAL
    default_split = attribution_cfg.get("split", "train")
    skip = bool(attribution_cfg.get("skip_inapplicable", True))
    if methods is None:
        methods = explained.importance_methods if classical else attribution_cfg.get("methods")
    configs = method_configs(methods)
    if classical:
        explained.check_genes(datamodule.gene_names, source=f"data {getattr(datamodule, 'name', '')!s}".strip())
    groups: dict[str, list[dict[str, Any]]] = {}
    for config in configs:  # only a classical model's methods choose their split
        groups.setdefault(config.pop("split", default_split) if classical else default_split, []).append(config)
    info, tables = {}, []
    for split, group in groups.items():
        if split not in datamodule.split_index:
            raise ConfigError(f"attribution split {split!r} does not exist; choose train, val or test")
        inputs, labels = datamodule.tensors(split)
        x, y = _classical_data(explained, inputs, labels) if classical else (inputs, labels.numpy())
        values, group_info = compute_attributions(
            explained, x, group, target=target, seed=seed, skip_inapplicable=skip, labels=y
        )
        info.update({label: {**item, "split": split} if classical else item for label, item in group_info.items()})
        kinds, directions = {}, {}
        for config in group:
            cls = method_class(config["name"], explained)
            kinds[result_label(config)], directions[result_label(config)] = cls.shape, cls.direction
        tables.append(
            classical_importance_table(
                values, y, datamodule.gene_names, datamodule.class_names, kinds, inputs=inputs, directions=directions,
                tested=target,
            )  # fmt: skip
        )
    frames = [t for t in tables if len(t)]
    if not frames:
        return classical_importance_table({}, [], datamodule.gene_names, datamodule.class_names), info
    table = pd.concat(frames, ignore_index=True)
    # Keep the configured method order across split groups.
    order = {result_label(c): i for i, c in enumerate(configs)}
    table = table.assign(_order=table["method"].map(order)).sort_values(["_order", "rank"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True), info


def attribute_classical(
    attribution_cfg: DictConfig | Mapping[str, Any],
    model: Any,
    datamodule: Any,
    seed: int,
    methods: Sequence[MethodConfig] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Importance table of a classical model: :func:`attribute`, kept under its former name."""
    if model_kind(model) != CLASSICAL:
        raise ConfigError(f"attribute_classical explains a ClassicalModel, got {type(model).__name__}; use attribute")
    return attribute(attribution_cfg, model, datamodule, seed, methods)


def compute_classical_importance(
    model: Any,
    inputs: Any,
    labels: Any,
    methods: Sequence[MethodConfig] | None = None,
    seed: int = 0,
    target: int = 1,
    skip_inapplicable: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Run importance methods on a fitted :class:`~genexai.estimators.classical.ClassicalModel`.

    :func:`~genexai.attribution.compute.compute_attributions` on the split ``inputs``
    ``[n, G]`` with class indices ``labels [n]``; ``methods`` default to
    ``model.importance_methods`` (a ``split`` key is ignored here: :func:`attribute`
    uses it). Returns ``label -> [n, G]`` (per-sample) or ``[G]`` (global) arrays and
    ``label -> {"kind", "seconds", ...}``; ``kind`` tells
    :func:`~genexai.attribution.table.classical_importance_table` how to aggregate.
    """
    configs = method_configs(model.importance_methods if methods is None else methods)
    for config in configs:
        config.pop("split", None)
    x, y = _classical_data(model, inputs, labels)
    return compute_attributions(model, x, configs, target=target, seed=seed, skip_inapplicable=skip_inapplicable, labels=y)


def available_importance_methods() -> list[str]:
    """Registered importance methods of classical models, sorted."""
    return available_methods(CLASSICAL)


def _classical_data(model: Any, inputs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """The model's float32 inputs ``[n, G]`` and int64 class indices ``[n]``, checked against each other."""
    x = model._check_x(inputs)
    y = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels).astype(np.int64).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise AttributionError(f"{y.shape[0]} labels for {x.shape[0]} samples")
    return x, y
