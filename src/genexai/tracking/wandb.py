"""Weights & Biases runs that never prompt, block or need a network.

W&B runs **offline** unless it can run online without asking anything: an API key
(``WANDB_API_KEY`` or a ``wandb login`` entry in ``~/.netrc``) *and* the server
answering within two seconds (``WANDB_MODE=offline``/``disabled`` or
``logger.wandb.offline=true`` keep it offline/off). An offline run is written under the run directory
(``<run dir>/wandb/offline-run-*``) and uploaded later with ``wandb sync``.

* :class:`WandbLogger` (``configs/logger/wandb.yaml``): Lightning's logger with that
  mode decision, run name/tags/group from the config, and ``wandb_run.json`` written
  into the run directory so a later process (``evaluate.py``) finds the run again.
* :func:`finish`: closes the current W&B run (one run per Hydra multirun job).

What a run records (config, results, tables, figures) is :mod:`genexai.tracking.results`.
``wandb`` itself is imported only when a W&B run is actually used.
"""

from __future__ import annotations

import logging
import netrc
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pytorch_lightning.loggers import WandbLogger as _LightningWandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment

from genexai.utils.files import write_json

__all__ = ["MODES", "RUN_INFO_FILE", "WandbLogger", "finish", "resolve_mode", "setup_environment", "write_run_info"]

log = logging.getLogger(__name__)

#: Written into the run directory: id, project, mode and directory of the run's W&B run.
RUN_INFO_FILE = "wandb_run.json"

#: ``WANDB_MODE`` / ``run.settings.mode`` values → the three modes a run can have.
MODES = {"online": "online", "run": "online", "offline": "offline", "dryrun": "offline", "disabled": "disabled"}


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
    env = MODES.get(os.environ.get("WANDB_MODE", "").strip().lower())
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
        artifact by :func:`~genexai.tracking.log_results` in every mode.
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
        self.mode = mode
        self.max_list_len = max_list_len

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The W&B run, created on first use; its id is recorded in ``<save_dir>/wandb_run.json``."""
        fresh = self._experiment is None
        run = super().experiment
        if fresh and self._save_dir:
            write_run_info(run, Path(self._save_dir), self.mode)
        return run

    def log_hyperparams(self, params: Any) -> None:  # noqa: D102 (Lightning's docstring)
        params = dict(vars(params) if not isinstance(params, Mapping) else params)
        for key, value in params.items():
            if isinstance(value, (list, tuple)) and len(value) > self.max_list_len:
                params[key] = f"<{len(value)} items>"
        super().log_hyperparams(params)


def write_run_info(run: Any, save_dir: Path, mode: str) -> None:
    """Record ``run`` in ``<save_dir>/wandb_run.json`` (nothing for a disabled run), for :func:`~genexai.tracking.log_evaluation`."""
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
