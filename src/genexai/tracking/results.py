"""What a W&B run records besides Lightning's curves: config, final metrics, tables, figures, artifacts.

* :func:`log_config`: the resolved Hydra config as the W&B run config.
* :func:`log_results`: final metrics (summary), importance/DE/comparison tables,
  report figures, best checkpoint and DE table as artifacts.
* :func:`log_evaluation`: the same from a separate process (``evaluate.py``), into
  the training run (reopened with ``resume="allow"``).
* :func:`log_table` / :func:`log_image`: one ``wandb.Table`` / ``wandb.Image``.

Every function takes the run's Lightning loggers (or W&B runs) and does nothing
when none of them is a W&B one, so callers need not know whether W&B is used.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pytorch_lightning.loggers import WandbLogger as _LightningWandbLogger

from genexai.estimators.classical_io import META_FILE, MODEL_FILES
from genexai.tracking.wandb import MODES, RUN_INFO_FILE, resolve_mode, setup_environment, write_run_info
from genexai.utils.flatten import flatten

__all__ = ["evaluation_outputs", "log_config", "log_evaluation", "log_image", "log_results", "log_table"]

log = logging.getLogger(__name__)

#: Rows above this are cut from a ``wandb.Table`` (W&B's own limit is 200,000); the
#: full DE table still travels as an artifact.
MAX_TABLE_ROWS = 100_000


def _tracked(loggers: Sequence[Any] | Any | None) -> list[tuple[Any, Any]]:
    """``(Lightning logger or None, W&B run)`` for every W&B logger or W&B run among ``loggers`` (often none)."""
    if loggers is None:
        return []
    wandb = sys.modules.get("wandb")  # no W&B run can exist before wandb is imported
    pairs = []
    for logger in loggers if isinstance(loggers, (list, tuple)) else [loggers]:
        if isinstance(logger, _LightningWandbLogger) and getattr(logger, "mode", "") != "disabled":
            pair = (logger, logger.experiment)
        elif wandb is not None and isinstance(logger, wandb.Run):
            pair = (None, logger)
        else:
            continue
        if isinstance(getattr(pair[1], "id", None), str):  # not a disabled run, not another rank's dummy
            pairs.append(pair)
    return pairs


def _wandb_runs(loggers: Sequence[Any] | Any | None) -> list[Any]:
    """The W&B runs of :func:`_tracked`."""
    return [run for _, run in _tracked(loggers)]


# --------------------------------------------------------------------------- tables and figures
def log_table(
    loggers: Sequence[Any] | Any | None, key: str, frame: pd.DataFrame, order_by: str | None = None
) -> None:
    """Log ``frame`` as a ``wandb.Table`` under ``key``.

    Above :data:`MAX_TABLE_ROWS` rows only the first are kept, after a stable sort on
    ``order_by`` (best genes first) when given. Object columns holding anything but
    ``None``/str/int/float/bool are stringified: a ``wandb.Table`` column takes one
    plain type.
    """
    runs = _wandb_runs(loggers)
    if not runs:
        return
    import wandb

    if len(frame) > MAX_TABLE_ROWS:
        if order_by and order_by in frame.columns:
            frame = frame.sort_values(order_by, kind="stable")
        log.info("W&B: table cut to its first %d of %d rows", MAX_TABLE_ROWS, len(frame))
        frame = frame.head(MAX_TABLE_ROWS)
    frame = frame.copy()
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: v if v is None or isinstance(v, (str, int, float, bool)) else str(v))
    table = wandb.Table(dataframe=frame)
    for run in runs:
        run.log({key: table})


def log_image(loggers: Sequence[Any] | Any | None, key: str, path: str | os.PathLike, caption: str | None = None) -> None:
    """Log the image file at ``path`` as a ``wandb.Image`` under ``key``."""
    runs = _wandb_runs(loggers)
    if not runs:
        return
    import wandb

    image = wandb.Image(str(path), caption=caption)
    for run in runs:
        run.log({key: image})


# --------------------------------------------------------------------------- summary
def _summary_values(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Scalars (and short lists of scalars) of ``metrics``, flattened; NaN kept as None."""
    out: dict[str, Any] = {}
    for key, value in flatten(metrics).items():
        if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
            try:
                value = value.item()
            except (ValueError, RuntimeError):
                continue
        if isinstance(value, float) and math.isnan(value):
            value = None
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        elif isinstance(value, (list, tuple)) and len(value) <= 64 and all(isinstance(v, (bool, int, float, str)) for v in value):
            out[key] = list(value)
    return out


def _comparison_summary(comparison: pd.DataFrame) -> dict[str, float]:
    """``comparison/<reference>/<method>/<metric>`` for every metric but the chance levels."""
    out: dict[str, float] = {}
    metric_cols = [
        c for c in comparison.columns
        if c not in ("method", "reference") and not c.startswith("chance_") and pd.api.types.is_numeric_dtype(comparison[c])
    ]
    for _, row in comparison.iterrows():
        for col in metric_cols:
            value = row[col]
            out[f"comparison/{row['reference']}/{row['method']}/{col}"] = None if pd.isna(value) else float(value)
    return out


# --------------------------------------------------------------------------- a run's results
def log_config(loggers: Sequence[Any] | Any | None, cfg: Any) -> None:
    """Log the resolved Hydra config (plus the chosen config groups) as the W&B run config.

    Does nothing when no W&B logger is among ``loggers``. Call it right after the
    loggers are instantiated, so a crashed run still records its config.
    """
    runs = _wandb_runs(loggers)
    if not runs:
        return
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            hc = HydraConfig.get()
            config["hydra_choices"] = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra/")}
            config["hydra_overrides"] = list(hc.overrides.task)
    except Exception:  # outside Hydra: the config alone
        pass
    for run in runs:
        run.config.update(config, allow_val_change=True)


def log_results(
    loggers: Sequence[Any] | Any | None,
    *,
    metrics: Mapping[str, Any],
    importance: pd.DataFrame | None = None,
    de: pd.DataFrame | None = None,
    comparison: pd.DataFrame | None = None,
    figures: Mapping[str, str | os.PathLike] | None = None,
    checkpoint: str | os.PathLike | None = None,
) -> None:
    """Send a run's results to W&B; does nothing when no W&B logger is among ``loggers``.

    Parameters
    ----------
    loggers
        The Lightning loggers of the run (a list, one logger, or ``None``), or W&B runs.
    metrics
        Final metrics (``metrics.json``); nested dicts are flattened with ``/`` and
        written to the run summary (``test/auroc``, ``time_s/train``, ``eval/...``).
    importance, de, comparison
        Gene importance table, DESeq2 table (genes as index or a ``gene`` column) and
        attribution-vs-DE comparison: logged as ``wandb.Table`` under ``tables/``; the
        comparison's metrics also go to the summary as
        ``comparison/<reference>/<method>/<metric>``.
    figures
        ``name -> PNG path`` (report figures), logged as images under ``figures/``.
    checkpoint
        Best checkpoint, logged as a ``model`` artifact (aliases ``best``, ``latest``) in the
        run directory's format: a classical model's ``model.json`` travels with its
        ``model.skops``/``model.ubj``, so a downloaded artifact is opened without pickle as
        the run directory is. The DE table is logged as a ``de_table`` artifact. Offline, artifacts are stored
        with the run and uploaded by ``wandb sync``.
    """
    tracked = _tracked(loggers)
    if not tracked:
        return
    import wandb

    runs = [run for _, run in tracked]
    summary = _summary_values(metrics or {})
    has_comparison = comparison is not None and not comparison.empty
    if has_comparison:
        summary.update(_comparison_summary(comparison))
    has_de = de is not None and not de.empty
    for run in runs:
        if summary:
            run.summary.update(summary)
    if importance is not None and not importance.empty:
        log_table(runs, "tables/importance", importance, order_by="rank")
    if has_de:
        log_table(runs, "tables/de", de if "gene" in de.columns else de.rename_axis("gene").reset_index(), order_by="pvalue")
    if has_comparison:
        log_table(runs, "tables/comparison", comparison)
    for name, path in (figures or {}).items():
        if Path(path).is_file():
            log_image(runs, f"figures/{name}", path, caption=name.replace("_", " "))
        else:
            log.warning("W&B: figure %s not found at %s; skipped", name, path)
    if checkpoint and not Path(checkpoint).is_file():
        log.warning("W&B: checkpoint %s not found; not logged as an artifact", checkpoint)
    for run in runs:
        if checkpoint and Path(checkpoint).is_file():
            artifact = wandb.Artifact(
                f"model-{run.id}", type="model",
                metadata={k: v for k, v in summary.items() if k.startswith(("val/", "test/"))},
            )
            # "immutable": referenced in place, not copied to W&B's staging area (run dirs are never rewritten).
            for path in _model_files(Path(checkpoint)):
                artifact.add_file(str(path), name=path.name, policy="immutable")
            run.log_artifact(artifact, aliases=["best", "latest"])
        if has_de:
            artifact = wandb.Artifact(f"de-{run.id}", type="de_table")
            with artifact.new_file("de_table.csv", mode="w") as handle:
                de.to_csv(handle, index="gene" not in de.columns)
            run.log_artifact(artifact)
        if MODES.get(str(getattr(getattr(run, "settings", None), "mode", "")), "") == "offline":
            log.info("W&B: offline run %s saved under %s (upload with `wandb sync`)", run.id, Path(run.dir).parent)
    for logger, run in tracked:
        save_dir = Path(logger.save_dir or ".") if logger is not None else None
        if save_dir is not None and not (save_dir / RUN_INFO_FILE).is_file():  # a plain Lightning WandbLogger wrote none
            write_run_info(run, save_dir, MODES.get(str(run.settings.mode), "offline"))


def _model_files(checkpoint: Path) -> list[Path]:
    """The checkpoint and, for a classical model, the ``model.json`` beside it (genes, classes, format)."""
    meta = checkpoint.with_name(META_FILE)
    return [checkpoint, meta] if checkpoint.name in MODEL_FILES.values() and meta.is_file() else [checkpoint]


def evaluation_outputs(out_dir: str | os.PathLike) -> dict[str, Any]:
    """``de``, ``comparison`` and ``figures`` of an evaluation directory, as :func:`log_results` takes them.

    Reads what :func:`genexai.pipeline.evaluate.evaluate_model` writes (``de.csv``,
    ``comparison.csv``, ``*.png``, also per contrast in ``<contrast>/``); an absent directory or file is simply left out,
    so ``log_results(..., **evaluation_outputs(run_dir / "evaluation"))`` is safe
    whether or not the run was evaluated.
    """
    out_dir = Path(out_dir)
    outputs: dict[str, Any] = {}
    if (out_dir / "de.csv").is_file():
        outputs["de"] = pd.read_csv(out_dir / "de.csv", index_col=0)
        outputs["de"].index.name = "gene"
    if (out_dir / "comparison.csv").is_file():
        outputs["comparison"] = pd.read_csv(out_dir / "comparison.csv")
    # K > 2 classes: each contrast's figures are in <contrast>/, logged as "<contrast>/<figure>".
    pngs = sorted(out_dir.rglob("*.png")) if out_dir.is_dir() else []
    figures = {p.relative_to(out_dir).with_suffix("").as_posix(): p for p in pngs}
    if figures:
        outputs["figures"] = figures
    return outputs


def log_evaluation(run_dir: str | os.PathLike, *, metrics: Mapping[str, Any] | None = None, **results: Any) -> bool:
    """Log evaluation results into the W&B run of the training run in ``run_dir``.

    For ``evaluate.py`` (a separate process): reads ``<run_dir>/wandb_run.json`` and
    reopens that run with ``resume="allow"`` (same id, project and directory; an
    offline training run stays offline and gets a second ``offline-run-*-<id>``
    folder that ``wandb sync`` merges into the same run). If the run is still open in
    this process it is used directly. ``metrics`` and ``results`` (``importance``,
    ``de``, ``comparison``, ``figures``, ``checkpoint``) as in :func:`log_results`.

    Returns
    -------
    bool
        ``False`` (nothing logged) when the training run did not use W&B or W&B is disabled.
    """
    info_path = Path(run_dir) / RUN_INFO_FILE
    if not info_path.is_file():
        return False
    info = json.loads(info_path.read_text())
    mode = resolve_mode(True if info.get("mode") != "online" else None)
    if mode == "disabled":
        return False
    setup_environment(mode == "offline")
    import wandb

    active = wandb.run
    if active is not None and active.id == info["id"]:
        log_results(active, metrics=metrics or {}, **results)
        return True
    run = wandb.init(
        id=info["id"],
        project=info.get("project"),
        entity=info.get("entity"),
        dir=info.get("save_dir") or str(run_dir),
        resume="allow",
        mode=mode,
        reinit="create_new",
    )
    try:
        log_results(run, metrics=metrics or {}, **results)
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()
    return True
