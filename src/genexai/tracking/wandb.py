"""Weights & Biases tracking that never prompts, blocks or needs a network.

W&B runs **offline** unless it can run online without asking anything: an API key
(``WANDB_API_KEY`` or a ``wandb login`` entry in ``~/.netrc``) *and* the server
answering within two seconds (``WANDB_MODE=offline``/``disabled`` or
``logger.wandb.offline=true`` keep it offline/off). An offline run is written under the run directory
(``<run dir>/wandb/offline-run-*``) and uploaded later with ``wandb sync``.

The pieces, in the order a run uses them:

* :class:`WandbLogger` (``configs/logger/wandb.yaml``): Lightning's logger with that
  mode decision, run name/tags/group from the config, and ``wandb_run.json`` written
  into the run directory so a later process (``evaluate.py``) finds the run again.
* :func:`log_config`: the resolved Hydra config as the W&B run config.
* :func:`log_results`: final metrics (summary), importance/DE/comparison tables,
  report figures, best checkpoint and DE table as artifacts.
* :func:`log_evaluation`: the same from a separate process, into the training run
  (reopened with ``resume="allow"``).
* :func:`finish`: closes the current W&B run (one run per Hydra multirun job).
* :func:`read_offline_run`: config, summary and artifacts of an offline run, read
  from its ``run-<id>.wandb`` file (W&B 0.31 writes no ``wandb-summary.json``
  offline), to inspect a run before syncing it.

``wandb`` itself is imported only when a W&B run is actually used.
"""

from __future__ import annotations

import json
import logging
import math
import netrc
import os
import socket
import struct
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
from pytorch_lightning.loggers import WandbLogger as _LightningWandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment

from genexai.utils.files import write_json

__all__ = [
    "RUN_INFO_FILE",
    "WandbLogger",
    "evaluation_outputs",
    "finish",
    "flatten",
    "log_config",
    "log_evaluation",
    "log_results",
    "read_offline_run",
    "resolve_mode",
    "setup_environment",
]

log = logging.getLogger(__name__)

#: Written into the run directory: id, project, mode and directory of the run's W&B run.
RUN_INFO_FILE = "wandb_run.json"

#: Rows above this are cut from a ``wandb.Table`` (W&B's own limit is 200,000); the
#: full DE table still travels as an artifact.
MAX_TABLE_ROWS = 100_000

_MODES = {"online": "online", "run": "online", "offline": "offline", "dryrun": "offline", "disabled": "disabled"}


# --------------------------------------------------------------------------- environment
def _api_key_configured() -> bool:
    """An API key in the environment or in the netrc file ``wandb login`` writes."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _server_reachable(timeout: float = 2.0) -> bool:
    """Whether the W&B server accepts a TCP connection (a dead network must not cost W&B's 90 s init timeout)."""
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "api.wandb.ai", port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_mode(offline: bool | None = None) -> str:
    """The W&B mode of a new run: ``"online"``, ``"offline"`` or ``"disabled"``.

    Parameters
    ----------
    offline
        ``True``/``False`` ask for offline/online (``logger.wandb.offline`` in the
        config); ``None`` (default) follows ``WANDB_MODE`` if set, else asks for online.

    Online is granted only with an API key (``WANDB_API_KEY`` or a ``wandb login``
    entry in the netrc file) and a server answering within 2 s; otherwise the run is
    offline, with a warning if online was asked for explicitly. So W&B never prompts
    for a login and never waits for a network. ``WANDB_MODE=disabled`` always wins
    (CI, quick checks); a W&B sweep agent's run (``WANDB_SWEEP_ID`` set) is always
    online, as it must report to its sweep.
    """
    env = _MODES.get(os.environ.get("WANDB_MODE", "").strip().lower())
    if env == "disabled":
        return "disabled"
    if os.environ.get("WANDB_SWEEP_ID"):
        return "online"
    explicit = offline is not None or env is not None
    wanted = ("offline" if offline else "online") if offline is not None else (env or "online")
    if wanted == "offline":
        return "offline"
    if not _api_key_configured():
        if explicit:
            log.warning("W&B: online mode asked for but no API key is configured (`wandb login`); logging offline")
        return "offline"
    if not _server_reachable():
        log.warning("W&B: the server is unreachable; logging offline (upload later with `wandb sync`)")
        return "offline"
    return "online"


def setup_environment(offline: bool | None = None) -> str:
    """Settle the W&B mode and environment before ``wandb.init``; return the mode.

    Sets (unless already set): ``WANDB_SILENT`` (no banner, no prompt),
    ``WANDB_DISABLE_CODE`` (no source snapshot) and, when not online,
    ``WANDB_ERROR_REPORTING=false`` (no crash reports over the network). The mode
    itself is passed to ``wandb.init`` rather than written to ``WANDB_MODE``, so one
    process can hold runs of different modes (tests, notebooks).
    """
    mode = resolve_mode(offline)
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_CODE", "true")
    if mode != "online":
        os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
    return mode


def _multirun_job() -> tuple[str, int | None] | None:
    """``(group, job number)`` when running as a Hydra multirun job, else ``None``.

    The group is ``<job name>-<sweep dir name>`` (e.g. ``train-2025-01-31_10-00-00-123456``).
    """
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
            return None
        hc = HydraConfig.get()
        output_dir = hc.runtime.get("output_dir")
        sweep = Path(output_dir).parent.name if output_dir else "multirun"
        return f"{hc.job.name}-{sweep}", hc.job.get("num")
    except Exception:  # no Hydra context (notebook, plain script)
        return None


# --------------------------------------------------------------------------- logger
class WandbLogger(_LightningWandbLogger):
    """Lightning's ``WandbLogger`` that never prompts or waits for a network.

    Parameters
    ----------
    project, name, tags, group, job_type
        As in ``wandb.init``. In a Hydra multirun, ``group`` defaults to
        ``<task>-<sweep dir>`` and ``name`` gets ``_job<N>`` appended, so the jobs of a
        sweep sit together in the W&B UI.
    save_dir
        The run directory: W&B files go to ``<save_dir>/wandb/``, ``wandb_run.json`` to
        ``<save_dir>``.
    offline
        ``None`` (default): offline unless W&B is set up (see :func:`resolve_mode`);
        ``True``: always offline; ``False``: online, with a warning if it cannot be.
    log_model
        Lightning's checkpoint upload (``True``/``"all"``); ignored unless online, since
        offline runs cannot upload during training. The best checkpoint is logged as an
        artifact by :func:`log_results` in every mode.
    max_list_len
        Hyperparameter lists longer than this (the model's ``gene_names``) are logged
        as ``"<N items>"`` instead of filling the run config.
    **kwargs
        Passed on to Lightning's ``WandbLogger`` and ``wandb.init``.
    """

    def __init__(
        self,
        project: str = "genexai",
        name: str | None = None,
        save_dir: str | os.PathLike = ".",
        offline: bool | None = None,
        log_model: bool | str = False,
        tags: Sequence[str] | None = None,
        group: str | None = None,
        job_type: str = "train",
        max_list_len: int = 64,
        **kwargs: Any,
    ) -> None:
        mode = setup_environment(offline)
        job = _multirun_job()
        if job is not None:
            group = group or job[0]
            if name and job[1] is not None:
                name = f"{name}_job{job[1]}"
        # `offline=False` + `mode=...`: Lightning's own `offline=True` would write
        # WANDB_MODE=dryrun into the process environment, leaking into later runs.
        super().__init__(
            name=name,
            save_dir=os.fspath(save_dir),
            offline=False,
            project=project,
            log_model=log_model if mode == "online" else False,
            tags=[str(t) for t in tags] if tags else None,
            group=group,
            job_type=job_type,
            mode=mode,
            **kwargs,
        )
        # Lightning always passes `anonymous`, which W&B 0.31 warns about on every run.
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
        self._offline = mode != "online"
        self.mode = mode
        self.max_list_len = max_list_len

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The W&B run, created on first use; its id is recorded in ``<save_dir>/wandb_run.json``."""
        fresh = self._experiment is None
        run = super().experiment
        if fresh and self._save_dir:
            _write_run_info(run, Path(self._save_dir), self.mode)
        return run

    def log_hyperparams(self, params: Any) -> None:  # noqa: D102 (Lightning's docstring)
        params = dict(vars(params) if not isinstance(params, Mapping) else params)
        for key, value in params.items():
            if isinstance(value, (list, tuple)) and len(value) > self.max_list_len:
                params[key] = f"<{len(value)} items>"
        super().log_hyperparams(params)


def _write_run_info(run: Any, save_dir: Path, mode: str) -> None:
    run_id = getattr(run, "id", None)
    if not run_id or mode == "disabled":
        return
    write_json(
        save_dir / RUN_INFO_FILE,
        {
            "id": run_id,
            "project": getattr(run, "project", None),
            "entity": getattr(run, "entity", None) if mode == "online" else None,
            "name": getattr(run, "name", None),
            "mode": mode,
            "save_dir": str(save_dir.resolve()),
            "files_dir": getattr(run, "dir", None),
            "url": getattr(run, "url", None) if mode == "online" else None,
        },
    )


def _wandb_runs(loggers: Sequence[Any] | Any | None) -> list[tuple[Any, Any]]:
    """``(logger, W&B run)`` of every W&B logger among the Lightning loggers (often none)."""
    if loggers is None:
        return []
    if not isinstance(loggers, (list, tuple)):
        loggers = [loggers]
    runs = []
    for logger in loggers:
        if isinstance(logger, _LightningWandbLogger) and getattr(logger, "mode", "") != "disabled":
            run = logger.experiment
            if isinstance(getattr(run, "id", None), str):  # not a disabled run, not another rank's dummy
                runs.append((logger, run))
    return runs


# --------------------------------------------------------------------------- logging
def flatten(data: Mapping[str, Any], prefix: str = "", sep: str = "/") -> dict[str, Any]:
    """Nested dicts → one level (``{"time_s": {"train": 1}}`` → ``{"time_s/train": 1}``)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten(value, name, sep))
        else:
            flat[name] = value
    return flat


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


def _table(wandb: Any, frame: pd.DataFrame, order_by: str | None = None, ascending: bool = True) -> Any:
    if len(frame) > MAX_TABLE_ROWS:
        if order_by and order_by in frame.columns:
            frame = frame.sort_values(order_by, ascending=ascending, kind="stable")
        log.info("W&B: table cut to its first %d of %d rows", MAX_TABLE_ROWS, len(frame))
        frame = frame.head(MAX_TABLE_ROWS)
    # W&B tables want plain column types: stringify anything that is not a number/bool/str.
    frame = frame.copy()
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: v if v is None or isinstance(v, (str, int, float, bool)) else str(v))
    return wandb.Table(dataframe=frame)


def _log_to_run(
    run: Any,
    *,
    metrics: Mapping[str, Any] | None = None,
    importance: pd.DataFrame | None = None,
    de: pd.DataFrame | None = None,
    comparison: pd.DataFrame | None = None,
    figures: Mapping[str, str | os.PathLike] | None = None,
    checkpoint: str | os.PathLike | None = None,
) -> None:
    import wandb

    summary = _summary_values(metrics or {})
    if comparison is not None and not comparison.empty:
        summary.update(_comparison_summary(comparison))
    if summary:
        run.summary.update(summary)

    media: dict[str, Any] = {}
    if importance is not None and not importance.empty:
        media["tables/importance"] = _table(wandb, importance, "rank")
    if de is not None and not de.empty:
        de_frame = de if "gene" in de.columns else de.rename_axis("gene").reset_index()
        media["tables/de"] = _table(wandb, de_frame, "pvalue")
    if comparison is not None and not comparison.empty:
        media["tables/comparison"] = _table(wandb, comparison)
    for name, path in (figures or {}).items():
        if Path(path).is_file():
            media[f"figures/{name}"] = wandb.Image(str(path), caption=name.replace("_", " "))
        else:
            log.warning("W&B: figure %s not found at %s; skipped", name, path)
    if media:
        run.log(media)

    offline = getattr(getattr(run, "settings", None), "mode", "") in ("offline", "dryrun")
    if checkpoint and Path(checkpoint).is_file():
        artifact = wandb.Artifact(
            f"model-{run.id}", type="model",
            metadata={k: v for k, v in summary.items() if k.startswith(("val/", "test/"))},
        )
        # "immutable": referenced in place, not copied to W&B's staging area (run dirs are never rewritten).
        artifact.add_file(str(checkpoint), name=Path(checkpoint).name, policy="immutable")
        run.log_artifact(artifact, aliases=["best", "latest"])
    elif checkpoint:
        log.warning("W&B: checkpoint %s not found; not logged as an artifact", checkpoint)
    if de is not None and not de.empty:
        artifact = wandb.Artifact(f"de-{run.id}", type="de_table")
        with artifact.new_file("de_table.csv", mode="w") as handle:
            de.to_csv(handle, index="gene" not in de.columns)
        run.log_artifact(artifact)
    if offline:
        log.info("W&B: offline run %s saved under %s (upload with `wandb sync`)", run.id, Path(run.dir).parent)


def log_config(loggers: Sequence[Any] | Any | None, cfg: Any) -> None:
    """Log the resolved Hydra config (plus the chosen config groups) as the W&B run config.

    Does nothing when no :class:`WandbLogger` is among ``loggers``. Call it right after
    the loggers are instantiated, so a crashed run still records its config.
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
    for _, run in runs:
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
    """Send a run's results to W&B; does nothing when no :class:`WandbLogger` is among ``loggers``.

    Parameters
    ----------
    loggers
        The Lightning loggers of the run (a list, one logger, or ``None``).
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
        Best checkpoint, logged as a ``model`` artifact (aliases ``best``, ``latest``);
        the DE table is logged as a ``de_table`` artifact. Offline, artifacts are stored
        with the run and uploaded by ``wandb sync``.
    """
    for logger, run in _wandb_runs(loggers):
        _log_to_run(run, metrics=metrics, importance=importance, de=de, comparison=comparison,
                    figures=figures, checkpoint=checkpoint)
        save_dir = Path(logger.save_dir or ".")
        if not (save_dir / RUN_INFO_FILE).is_file():  # a plain Lightning WandbLogger wrote none
            _write_run_info(run, save_dir, _MODES.get(str(run.settings.mode), "offline"))


def evaluation_outputs(out_dir: str | os.PathLike) -> dict[str, Any]:
    """``de``, ``comparison`` and ``figures`` of an evaluation directory, as :func:`log_results` takes them.

    Reads what :func:`genexai.pipeline.evaluate.evaluate_model` writes (``de.csv``,
    ``comparison.csv``, ``*.png``); an absent directory or file is simply left out,
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
    figures = {p.stem: p for p in sorted(out_dir.glob("*.png"))} if out_dir.is_dir() else {}
    if figures:
        outputs["figures"] = figures
    return outputs


def log_evaluation(
    run_dir: str | os.PathLike,
    *,
    metrics: Mapping[str, Any] | None = None,
    importance: pd.DataFrame | None = None,
    de: pd.DataFrame | None = None,
    comparison: pd.DataFrame | None = None,
    figures: Mapping[str, str | os.PathLike] | None = None,
    checkpoint: str | os.PathLike | None = None,
) -> bool:
    """Log evaluation results into the W&B run of the training run in ``run_dir``.

    For ``evaluate.py`` (a separate process): reads ``<run_dir>/wandb_run.json`` and
    reopens that run with ``resume="allow"`` (same id, project and directory; an
    offline training run stays offline and gets a second ``offline-run-*-<id>``
    folder that ``wandb sync`` merges into the same run). If the run is still open in
    this process it is used directly. Arguments as in :func:`log_results`.

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
        _log_to_run(active, metrics=metrics, importance=importance, de=de, comparison=comparison,
                    figures=figures, checkpoint=checkpoint)
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
        _log_to_run(run, metrics=metrics, importance=importance, de=de, comparison=comparison,
                    figures=figures, checkpoint=checkpoint)
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()
    return True


def finish(exit_code: int | None = None) -> None:
    """Finish the current W&B run, if any (``exit_code=1`` marks it failed).

    Called between Hydra multirun jobs: Lightning's ``WandbLogger`` reuses a run that
    is still open, so without this every job of a sweep would log into the first run.
    """
    wandb = sys.modules.get("wandb")
    if wandb is None or getattr(wandb, "run", None) is None:
        return
    try:
        wandb.finish(exit_code=exit_code)
    except Exception as err:  # a tracking hiccup must not fail the job
        log.warning("W&B: could not finish the run cleanly: %s", err)


# --------------------------------------------------------------------------- offline run files
def _records(path: Path) -> Iterator[bytes]:
    """Raw records of a W&B transaction log (LevelDB log format: 32 KiB blocks, 7-byte record headers)."""
    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file")
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        if kind == 0 and length == 0:  # zero padding to the end of the block
            pos += left - 7
            continue
        chunk, pos = data[pos:pos + length], pos + length
        if kind == 1:  # FULL
            yield chunk
        elif kind == 2:  # FIRST
            pending = chunk
        elif kind == 3:  # MIDDLE
            pending += chunk
        elif kind == 4:  # LAST
            yield pending + chunk
            pending = b""


def _set_nested(target: dict, keys: Sequence[str], value: Any) -> None:
    for key in keys[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            return
    target[keys[-1]] = value


def read_offline_run(path: str | os.PathLike) -> dict[str, Any]:
    """Config, summary and artifacts recorded in an offline (or not yet synced) W&B run.

    Parameters
    ----------
    path
        A run folder (``.../wandb/offline-run-<stamp>-<id>``), its ``run-<id>.wandb``
        file, or a directory above them: every run file found below is read, in
        time order (a resumed run's folders are merged, later values win).

    Returns
    -------
    dict
        ``id``, ``name``, ``project``, ``tags``, ``config`` (nested dict),
        ``summary`` (flat ``key -> value``, as W&B's run summary), ``artifacts``
        (``[{"name", "type", "aliases"}]``) and ``exit_code`` (of the last run file;
        ``None`` if the run never finished, ``1`` for a failed job).
    """
    from wandb.proto import wandb_internal_pb2 as pb

    path = Path(path)
    if path.is_file():
        files = [path]
    else:  # skip W&B's `latest-run` link; run folders are named `<mode>-run-<stamp>-<id>`
        found = [p for p in path.rglob("run-*.wandb") if not p.parent.is_symlink()]
        files = sorted(found, key=lambda p: p.parent.name.split("-")[-2])
    if not files:
        raise FileNotFoundError(f"no W&B run file (run-*.wandb) under {path}")
    out: dict[str, Any] = {
        "id": None, "name": None, "project": None, "tags": [], "config": {}, "summary": {}, "artifacts": [], "exit_code": None,
    }

    def update(items: Any, into: dict, nested: bool) -> None:
        for item in items:
            keys = list(item.nested_key) or [item.key]
            value = json.loads(item.value_json)
            if nested:
                _set_nested(into, keys, value)
            else:
                into["/".join(keys)] = value

    for file in files:
        out["exit_code"] = None
        for raw in _records(file):
            record = pb.Record()
            record.ParseFromString(raw)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run = record.run
                out.update(id=run.run_id, project=run.project, name=run.display_name or out["name"])
                out["tags"] = list(run.tags) or out["tags"]
                update(run.config.update, out["config"], nested=True)
            elif kind == "config":
                update(record.config.update, out["config"], nested=True)
            elif kind == "summary":
                update(record.summary.update, out["summary"], nested=False)
            elif kind == "artifact":
                art = record.artifact
                out["artifacts"].append({"name": art.name, "type": art.type, "aliases": list(art.aliases)})
            elif kind == "exit":
                out["exit_code"] = record.exit.exit_code
    out["config"].pop("_wandb", None)
    out["summary"] = {k: v for k, v in out["summary"].items() if not k.startswith("_")}
    return out
