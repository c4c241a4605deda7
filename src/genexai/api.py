"""genexai from Python: ``run(adata, overrides)`` is ``python train.py <overrides>`` on an AnnData in memory.

    from genexai import run
    result = run(adata, overrides=["model=transformer", "evaluate=true"])
    result.adata.var["importance_integrated_gradients"]

The config is composed from the same ``configs/`` and overrides as the command line;
the run directory is the same (``hydra.run.dir=<dir>`` sets it). Results go back into
AnnData the scverse way (documented keys, see :func:`results_to_adata`) and are also
saved as ``results.h5ad`` in the run directory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from genexai.errors import ConfigError
from genexai.pipeline.run import RunOutcome
from genexai.pipeline.train import train_outcome
from genexai.tracking import quiet_third_party_output
from genexai.utils.contrasts import CONTRAST, OMNIBUS
from genexai.utils.files import atomic_write
from genexai.utils.flatten import flatten

__all__ = ["RunResult", "compose_run_config", "results_to_adata", "run"]

#: ``configs/`` of a source checkout (the package is installed editable from it).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
RESULTS_FILE = "results.h5ad"


@dataclass
class RunResult:
    """A finished run: its directory, metrics, and the input AnnData with the results added."""

    run_dir: Path
    metrics: dict[str, Any]
    adata: ad.AnnData


def compose_run_config(overrides: Sequence[str] = (), config_dir: str | Path | None = None) -> DictConfig:
    """The config ``train.py`` would run with these overrides (``hydra.run.dir=`` included), resolved."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(Path(config_dir or CONFIG_DIR).resolve()), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    run_dir = Path(OmegaConf.select(cfg, "hydra.run.dir"))
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)  # what @hydra.main sets before the run
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        del cfg.hydra
    return cfg


def run(adata: ad.AnnData, overrides: Sequence[str] = (), *, config_dir: str | Path | None = None) -> RunResult:
    """Train, attribute (and with ``evaluate=true`` compare with DE) on ``adata``'s raw counts; return the results.

    ``adata`` takes the place of the ``data.adata`` node (raw integer counts in ``X``,
    the condition in ``obs``); every other ``data.*`` option applies. Cross-validation
    (``data.cv.folds``) is refused here: its per-fold results have no single AnnData.
    """
    quiet_third_party_output()
    cfg = compose_run_config(overrides, config_dir)
    if cfg.data.get("cv") and cfg.data.cv.get("folds"):
        raise ConfigError("genexai.run does not do cross-validation (data.cv.folds); use train.py for it")
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    outcome = train_outcome(cfg, adata.copy())
    assert isinstance(outcome, RunOutcome)
    annotated = results_to_adata(outcome)
    atomic_write(run_dir / RESULTS_FILE, lambda tmp: annotated.write_h5ad(tmp))
    return RunResult(run_dir, outcome.metrics, annotated)


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Flat numeric/string metrics with ``/`` written as ``:`` (HDF5 would read ``/`` as nested groups)."""
    return {key.replace("/", ":"): value for key, value in flatten(metrics).items()
            if isinstance(value, int | float | str | np.number) and not isinstance(value, bool)}


def _by_contrast(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``(column suffix, rows)``: ``""`` for a two-class table and for the omnibus rows, ``_<level>`` per contrast."""
    if CONTRAST not in table.columns:
        return [("", table)]
    return [("" if contrast == OMNIBUS else f"_{contrast}", rows.drop(columns=CONTRAST))
            for contrast, rows in table.groupby(CONTRAST, sort=False)]


def results_to_adata(outcome: RunOutcome) -> ad.AnnData:
    """The run's input AnnData with its results, under these keys.

    ``var``
        ``model_gene`` (bool: an input of the model), ``importance_<method>`` and
        ``rank_<method>`` (1 = most important; NaN for genes outside the model),
        ``qvalue_<method>`` with significance, and with ``evaluate=true`` the DE
        baseline's columns as ``de_<column>`` (``de_log2FoldChange``, ``de_padj``, ...).
        With K > 2 classes these are the class-agnostic (omnibus) rows, and every
        contrast's own carry the suffix ``_<level>`` (``importance_saliency_B``, ``de_padj_B``).
    ``obs``
        ``split`` (train/val/test), ``proba_<class>`` (the model's class probability,
        every sample), ``predicted``.
    ``uns["genexai"]``
        ``metrics`` (the scalars of ``metrics.json``, ``/`` in keys written ``:``, e.g.
        ``test:auroc``), ``metrics_json`` (all of it, as JSON text), ``comparison``
        (``comparison.csv``, column → array, with ``evaluate=true``), ``run_dir``.
    """
    dm, estimator = outcome.datamodule, outcome.estimator
    adata = dm.adata.copy()
    adata.var["model_gene"] = adata.var_names.isin(dm.gene_names)
    for suffix, rows in [] if outcome.importance is None else _by_contrast(outcome.importance):
        for method, table in rows.groupby("method", sort=False):
            table = table.set_index("gene")
            for column in ("importance", "rank", "qvalue"):
                if column in table:
                    values = table[column].reindex(adata.var_names).to_numpy(dtype=float)
                    adata.var[f"{column}_{method}{suffix}"] = values
    evaluation = outcome.run_dir / "evaluation"
    if (evaluation / "de.csv").is_file():
        for suffix, de in _by_contrast(pd.read_csv(evaluation / "de.csv", index_col="gene")):
            for column in de.columns:
                if pd.api.types.is_numeric_dtype(de[column]):
                    adata.var[f"de_{column}{suffix}"] = de[column].reindex(adata.var_names).to_numpy(dtype=float)
    split = pd.Series("", index=adata.obs_names, dtype=object)
    for name, index in dm.split_index.items():
        split.iloc[index] = name
    adata.obs["split"] = pd.Categorical(split)
    x = np.asarray(dm.preprocessor.transform(np.asarray(adata.X)), dtype=np.float32)
    if estimator.has_proba:
        proba = estimator.predict_proba(x)
        for k, name in enumerate(dm.class_names):
            adata.obs[f"proba_{name}"] = proba[:, k]
    adata.obs["predicted"] = pd.Categorical(np.asarray(dm.class_names)[estimator.predict(x)], categories=dm.class_names)
    uns: dict[str, Any] = {"metrics": _scalar_metrics(outcome.metrics), "metrics_json": json.dumps(outcome.metrics),
                           "run_dir": str(outcome.run_dir)}
    if (evaluation / "comparison.csv").is_file():
        comparison = pd.read_csv(evaluation / "comparison.csv")
        uns["comparison"] = {str(c): comparison[c].to_numpy() if comparison[c].dtype != object
                             else comparison[c].astype(str).to_numpy() for c in comparison.columns}
    adata.uns["genexai"] = uns
    return adata
