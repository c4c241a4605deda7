"""The one call the training paths make: add p-values and q-values to the importance table as configured.

``significance=none`` (default) leaves the table untouched; ``significance=permutation``
and ``significance=decoy`` add per-gene ``pvalue``, ``qvalue``, ``significance`` (the null
used) and ``significance_score`` (the importance that was tested) to every method's rows,
and write ``significance/`` into the run directory: ``null_importance.parquet`` (the B
null models' importances) or ``decoy_importance.parquet`` (the decoy run, decoys
included — the only place decoys are kept), and ``significance.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from genexai.data.datamodule import DE_SELECTIONS
from genexai.errors import ConfigError
from genexai.significance.decoy import decoy_run, decoy_significance
from genexai.significance.permutation import permutation_null, permutation_significance
from genexai.significance.refit import Refitter, preserved_random_state
from genexai.utils.files import atomic_write, write_json

__all__ = ["METHODS", "assess_significance", "check_significance_classes", "check_significance_config", "significance_method"]

log = logging.getLogger(__name__)

METHODS = ("none", "permutation", "decoy")
#: ``data.gene_selection`` values that choose the model's genes with the labels (a DE test).
LABEL_SELECTIONS = DE_SELECTIONS


def significance_method(cfg: DictConfig | None) -> str:
    """The configured method (``none`` when the group is absent)."""
    method = "none" if cfg is None else str(cfg.get("method") or "none")
    if method not in METHODS:
        raise ConfigError(f"significance.method must be one of {list(METHODS)}, got {method!r}")
    return method


def check_significance_config(cfg: DictConfig) -> None:
    """Refuse, before any training, a significance method on genes that a DE test chose with the real labels.

    The null models and decoys keep the observed run's genes; when those were picked by
    ``data.gene_selection=deseq2|wilcoxon`` on the real labels, every candidate already beat
    a label test, no null model repeats that selection, and the q-values are
    anti-conservative (pure noise, Wilcoxon-selected 20 of 2000 genes, ridge, 5 decoys per
    gene: 9 of the 20 called at q < 0.05, every one false). Redoing the selection inside
    every null model is what would make it valid; until then the combination is an error.
    """
    method = significance_method(cfg.get("significance"))
    selection = str(cfg.get("data", {}).get("gene_selection", "variance"))
    if method != "none" and selection in LABEL_SELECTIONS:
        raise ConfigError(
            f"significance={method} with data.gene_selection={selection}: the model's genes were chosen with the "
            "real labels and the null models would reuse them, so the q-values would be anti-conservative; use "
            "data.gene_selection=variance (or all), or significance=none"
        )


def check_significance_classes(cfg: DictConfig, class_names: Sequence[str]) -> None:
    """Refuse, before any training, a significance method on K > 2 classes.

    The null models and decoys rank one explained contrast, and a q-value per (contrast,
    gene) would need the null distribution of every contrast and of the omnibus maximum,
    with the FDR controlled across all of them; until that is built, K > 2 is an error
    rather than q-values whose meaning nobody has checked.
    """
    method = significance_method(cfg.get("significance"))
    if method != "none" and len(class_names) > 2:
        raise ConfigError(
            f"significance={method} supports two classes; this condition has {len(class_names)} levels "
            f"{list(class_names)}: use significance=none (or subset the data to two levels)"
        )


def assess_significance(
    cfg: DictConfig,
    datamodule,
    importance: pd.DataFrame | None,
    run_dir: str | Path,
    null_models: Callable[[], tuple[Refitter, dict[str, Any]]],
) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """Add significance columns to ``importance`` per ``cfg.significance``; return the table and a summary.

    Parameters
    ----------
    cfg
        Training config: ``significance`` (method and its keys), ``model``, ``trainer``,
        ``attribution``, ``seed``.
    datamodule
        The observed run's set-up data module.
    importance
        The observed importance table (``None``: nothing to do).
    run_dir
        Where ``significance/`` is written.
    null_models
        Called only when a significance method is configured: the observed model's
        :class:`~genexai.significance.refit.Refitter` and its recipe (how long it trained,
        as a dict for the summary), from the pipeline's estimator.

    Returns
    -------
    importance, info
        The table with ``pvalue, qvalue, significance, significance_score`` (unchanged for
        ``none``) and a JSON-able summary (method, settings, number called per method at
        ``alpha``, seconds), also in ``significance/significance.json``.
    """
    sig = cfg.get("significance")
    method = significance_method(sig)
    if method == "none" or importance is None or importance.empty:
        return importance, {}
    refit, recipe = null_models()
    settings = OmegaConf.to_container(sig, resolve=True)
    seed = int(settings.get("seed") if settings.get("seed") is not None else cfg.seed)
    alpha = float(settings.get("alpha", 0.05))
    out_dir = Path(run_dir) / "significance"
    start = time.perf_counter()
    with preserved_random_state():
        importance, extra = _run(method, settings, refit, recipe, datamodule, importance, seed, out_dir)
    called = importance.groupby("method", sort=False)["qvalue"].apply(lambda q: int((q < alpha).sum()))
    info = {
        "method": method,
        "alpha": alpha,
        "seed": seed,
        "recipe": recipe,
        **extra,
        "n_called": {str(k): v for k, v in called.items()},
        "seconds": time.perf_counter() - start,
    }
    write_json(out_dir / "significance.json", info)
    log.info("significance (%s): genes at q < %g per method: %s", method, alpha, info["n_called"])
    return importance, info


def _run(
    method: str,
    settings: dict[str, Any],
    refit: Refitter,
    recipe: dict[str, Any],
    datamodule,
    importance: pd.DataFrame,
    seed: int,
    out_dir: Path,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Null or decoy importances → the table with significance columns, and the method's settings for the summary."""
    if method == "permutation":
        pooled = settings.get("pooled", False)
        if not isinstance(pooled, bool):
            raise ConfigError(f"significance.pooled must be true or false, got {pooled!r}")
        n_perm = int(settings.get("n_permutations", 100))
        log.info("significance: training %d null models on permuted labels (%s)", n_perm, recipe)
        null = permutation_null(refit, datamodule, n_perm, seed)
        atomic_write(out_dir / "null_importance.parquet", lambda p: null.to_parquet(p, index=False))
        normalize = bool(settings.get("normalize", True))
        importance = permutation_significance(importance, null, pooled=pooled, normalize=normalize)
        n_genes = datamodule.n_genes
        extra = {
            "n_permutations": n_perm,
            "pooled": pooled,
            "normalize": normalize,
            "min_pvalue": 1.0 / (n_perm * (n_genes if pooled else 1) + 1),
        }
    else:
        ratio = float(settings.get("decoy_ratio", 1.0))
        plus_one = bool(settings.get("plus_one", True))
        log.info("significance: training one model with decoy genes (ratio %.2f, %s)", ratio, recipe)
        decoys = decoy_run(refit, datamodule, ratio, seed)
        atomic_write(out_dir / "decoy_importance.parquet", lambda p: decoys.to_parquet(p, index=False))
        importance = decoy_significance(importance, decoys, plus_one=plus_one)
        n_decoys = int(decoys.loc[decoys["method"] == decoys["method"].iloc[0], "is_decoy"].sum())
        extra = {"decoy_ratio": ratio, "n_decoys": n_decoys, "plus_one": plus_one}
    return importance, extra
