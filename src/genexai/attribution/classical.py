"""Run the classical gene-importance methods (:mod:`genexai.attribution.classical_methods`) and tabulate them.

:func:`attribute_classical` is the classical counterpart of :func:`genexai.attribution.explain.attribute_network`:
the same tidy table (:func:`genexai.attribution.importance_table` columns), from the
model config's ``importance_methods`` on ``attribution.split``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from genexai.attribution.classical_methods import _METHODS, GLOBAL, GLOBAL_SIGNED, PER_SAMPLE, available_importance_methods
from genexai.attribution.compute import log_skipped
from genexai.attribution.table import importance_table
from genexai.errors import AttributionError, ConfigError
from genexai.estimators.classical import ClassicalModel, _method_configs

__all__ = ["attribute_classical", "classical_importance_table", "compute_classical_importance"]

log = logging.getLogger(__name__)



def compute_classical_importance(
    model: ClassicalModel,
    inputs: Any,
    labels: Any,
    methods: Sequence[str | Mapping[str, Any]] | None = None,
    seed: int = 0,
    target: int = 1,
    skip_inapplicable: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Run importance methods on a fitted :class:`ClassicalModel`.

    Parameters
    ----------
    model
        Fitted model.
    inputs, labels
        Standardised expression ``[n, G]`` and class indices ``[n]`` of the split to explain.
    methods
        Names or ``{name: ..., label: ..., **options}`` (``label`` names the result so one
        method can run with two settings); default: ``model.importance_methods``. A
        ``split`` key is ignored here (:func:`attribute_classical` uses it).
    seed, target
        Seed of sampling methods (permutation shuffles); class whose score is explained.
    skip_inapplicable
        Log and skip methods that do not apply to this model (``tree_shap`` on a random
        forest, ``coefficients`` on an RBF SVM) instead of raising ``AttributionError``.

    Returns
    -------
    importances, info
        ``label -> [n, G]`` (per-sample) or ``[G]`` (global) arrays; ``label -> {"kind",
        "seconds", ...}`` (``{"skipped": reason}`` for a skipped method). ``kind`` tells
        :func:`classical_importance_table` how to aggregate; for ``global_signed``
        (``coefficients``) the array holds signed values and the importance is ``|value|``.
    """
    if not model.fitted:
        raise ConfigError(f"{model.name} is not fitted; train it before computing importances")
    x = model._check_x(inputs)
    y = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels).astype(np.int64).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise AttributionError(f"{y.shape[0]} labels for {x.shape[0]} samples")
    if not isinstance(target, int | np.integer):
        raise ConfigError(f"classical importances explain one class; attribution.target must be a class index, got {target!r}")
    configs = _method_configs(model.importance_methods if methods is None else methods)
    importances: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    for config in configs:
        options = dict(config)
        name = options.pop("name")
        label = options.pop("label", name)
        options.pop("split", None)  # chosen by attribute_classical
        if label in info:
            raise ConfigError(f"importance result {label!r} appears twice; give one of them a distinct 'label'")
        if name not in _METHODS:
            raise ConfigError(
                f"classical importance method {name!r} is unknown; choose one of {', '.join(available_importance_methods())}"
            )
        entry = _METHODS[name]
        options.setdefault("seed", seed)
        try:  # unknown or missing option: name the method and the fix before running it
            inspect.signature(entry.fn).bind(model, x, y, target=int(target), **options)
        except TypeError as err:
            raise ConfigError(f"importance method {name!r} rejected its options {sorted(options)}: {err}") from err
        start = time.perf_counter()
        try:
            values, extra = entry.fn(model, x, y, target=int(target), **options)
        except AttributionError as err:
            if not skip_inapplicable:
                raise
            info[label] = {"skipped": str(err)}
            continue
        if not np.isfinite(values).all():
            raise AttributionError(f"importance {label!r} of {model.name} contains NaN or inf")
        importances[label] = values
        info[label] = {"kind": entry.kind, "seconds": time.perf_counter() - start, **extra}
    log_skipped(info)
    return importances, info


def classical_importance_table(
    importances: Mapping[str, np.ndarray],
    labels: Any,
    gene_names: Sequence[str],
    class_names: Sequence[str],
    kinds: Mapping[str, str] | None = None,
    inputs: Any = None,
) -> pd.DataFrame:
    """Tidy table with the columns of :func:`genexai.attribution.importance_table`.

    ``direction`` (> 0: raising the gene pushes toward class 1) is read from per-sample
    scores as for baseline attributions — TreeSHAP, coef·x and feature ablation are all
    measured from the training mean — given ``inputs``; from the coefficient for
    ``global_signed``; NaN for unsigned global importances.

    Per-sample arrays ``[n, G]`` go through ``importance_table`` unchanged. A global
    array ``[G]`` gives ``importance`` = the value (``|value|`` for kind
    ``global_signed``), ``rank`` 1 = largest, ``mean_<class>`` NaN and ``signed_diff``
    NaN (or the signed value for ``global_signed``). ``kinds`` defaults to
    ``per_sample`` for 2-D and ``global`` for 1-D arrays.
    """
    kinds = dict(kinds or {})
    class_names = [str(c) for c in class_names]
    labels = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels)
    columns = ["method", "gene", "importance", "rank", *[f"mean_{c}" for c in class_names], "signed_diff", "direction"]
    frames = []
    for method, values in importances.items():
        values = np.asarray(values, dtype=np.float64)
        kind = kinds.get(method) or (PER_SAMPLE if values.ndim == 2 else GLOBAL)
        if kind == PER_SAMPLE:
            table = importance_table(
                {method: values}, labels, gene_names, class_names, inputs=inputs, directions={method: "baseline"}
            )
            frames.append(table.reindex(columns=columns))
            continue
        if values.shape != (len(gene_names),):
            raise AttributionError(f"global importance {method!r} has shape {values.shape}; expected ({len(gene_names)},)")
        frame = pd.DataFrame({"method": method, "gene": list(gene_names)})
        frame["importance"] = np.abs(values) if kind == GLOBAL_SIGNED else values
        frame["rank"] = frame["importance"].rank(ascending=False, method="first").astype(int)
        for cls in class_names:
            frame[f"mean_{cls}"] = np.nan
        frame["signed_diff"] = values if kind == GLOBAL_SIGNED else np.nan
        frame["direction"] = values if kind == GLOBAL_SIGNED else np.nan
        frames.append(frame.sort_values("rank", kind="stable"))
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def attribute_classical(
    attribution_cfg: DictConfig | Mapping[str, Any],
    model: ClassicalModel,
    datamodule: Any,
    seed: int,
    methods: Sequence[str | Mapping[str, Any]] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Importance table of a classical model, the counterpart of :func:`genexai.attribution.compute.attribute_network`.

    Methods come from ``model.importance_methods`` (the model config), not from
    ``attribution.methods`` (those are neural attributions); ``attribution.split``,
    ``target`` and ``skip_inapplicable`` apply. A method may name its own ``split``
    (e.g. ``{name: permutation, split: test}``).
    """
    if isinstance(attribution_cfg, DictConfig):
        attribution_cfg = OmegaConf.to_container(attribution_cfg, resolve=True)
    default_split = attribution_cfg.get("split", "train")
    target = attribution_cfg.get("target", 1)
    skip = bool(attribution_cfg.get("skip_inapplicable", True))
    configs = _method_configs(model.importance_methods if methods is None else methods)
    model.check_genes(datamodule.gene_names, source=f"data {getattr(datamodule, 'name', '')!s}".strip())
    info, kinds, tables = {}, {}, []
    for split in dict.fromkeys(c.get("split", default_split) for c in configs):
        group = [c for c in configs if c.get("split", default_split) == split]
        if split not in datamodule.split_index:
            raise ConfigError(f"importance split {split!r} does not exist; choose train, val or test")
        inputs, labels = datamodule.tensors(split)
        values, group_info = compute_classical_importance(
            model, inputs, labels, group, seed=seed, target=target, skip_inapplicable=skip
        )
        for label, item in group_info.items():
            info[label] = {**item, "split": split}
            if "kind" in item:
                kinds[label] = item["kind"]
        tables.append(
            classical_importance_table(values, labels, datamodule.gene_names, datamodule.class_names, kinds, inputs=inputs)
        )
    frames = [t for t in tables if len(t)]
    if not frames:
        return classical_importance_table({}, [], datamodule.gene_names, datamodule.class_names), info
    table = pd.concat(frames, ignore_index=True)
    # Keep the configured method order across split groups.
    order = {c.get("label", c["name"]): i for i, c in enumerate(configs)}
    table = table.assign(_order=table["method"].map(order)).sort_values(["_order", "rank"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True), info
