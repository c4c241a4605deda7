"""One table for a whole Hydra multirun: ``<sweep dir>/summary.csv``.

:class:`MultirunSummary` is a Hydra callback (``hydra.callbacks`` in
``configs/hydra/default.yaml``). After every job, and once more when the multirun
ends, it rebuilds the table from the job directories, so the table is complete
even when a sweep is interrupted, and several launchers writing at once cannot
lose a row. One row per job:

``job, status, <override key>..., <metric>..., error, overrides, dir``

* ``status``: ``completed`` (``metrics.json`` written), ``failed`` (``error.json``
  written, by :func:`genexai.tracking.sweep_safe` or by this callback when the job
  raised), or ``missing`` (still running or killed).
* one column per override key of the job (``model``, ``seed``, ``model.lr`` ...),
  the values as given on the command line or chosen by the sweeper.
* every metric of the job's ``metrics.json``, nested dicts flattened with ``/``
  (``test/auroc``, ``time_s/train``, ``n_samples/val``).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from genexai.tracking.sweep import ERROR_FILE, write_error
from genexai.tracking.wandb import finish
from genexai.utils.flatten import flatten
from genexai.utils.files import atomic_write

__all__ = ["MultirunSummary", "collect_jobs", "parse_override"]

log = logging.getLogger(__name__)


def parse_override(override: str) -> tuple[str, str]:
    """``"+model.lr=0.01"`` → ``("model.lr", "0.01")``; ``"~callbacks.x"`` → ``("callbacks.x", "<deleted>")``."""
    if override.startswith("~"):
        key, _, value = override[1:].partition("=")
        return key, value or "<deleted>"
    key, _, value = override.lstrip("+").partition("=")
    return key, value


def _cell(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, default=str)
    return value


def _job_sort_key(path: Path) -> tuple[int, int | str]:
    return (0, int(path.name)) if path.name.isdigit() else (1, path.name)


def collect_jobs(sweep_dir: str | Path, output_subdir: str | None = ".hydra") -> pd.DataFrame:
    """The summary table of the jobs under ``sweep_dir`` (see the module docstring).

    A job directory is any sub-directory holding ``<output_subdir>/overrides.yaml``,
    ``metrics.json`` or ``error.json`` (at any depth, for nested ``hydra.sweep.subdir``).
    """
    sweep_dir = Path(sweep_dir)
    markers = {"metrics.json", ERROR_FILE}
    job_dirs: set[Path] = set()
    if output_subdir:
        job_dirs |= {p.parent.parent for p in sweep_dir.rglob(f"{output_subdir}/overrides.yaml")}
    for name in markers:
        job_dirs |= {p.parent for p in sweep_dir.rglob(name)}
    rows = []
    for job_dir in sorted(job_dirs, key=_job_sort_key):
        if job_dir == sweep_dir:
            continue
        row: dict[str, Any] = {"job": job_dir.name, "status": "missing"}
        overrides: list[str] = []
        overrides_file = job_dir / (output_subdir or ".hydra") / "overrides.yaml"
        if overrides_file.is_file():
            overrides = [str(o) for o in (yaml.safe_load(overrides_file.read_text()) or [])]
            for override in overrides:
                key, value = parse_override(override)
                row[key] = value
        metrics_file, error_file = job_dir / "metrics.json", job_dir / ERROR_FILE
        if metrics_file.is_file():
            row["status"] = "completed"
            for key, value in flatten(json.loads(metrics_file.read_text())).items():
                row[key if key not in row else f"metrics/{key}"] = _cell(value)
        if error_file.is_file():
            error = json.loads(error_file.read_text())
            row["status"] = "failed"
            row["error"] = f"{error.get('type', 'Error')}: {error.get('message', '')}"[:500]
        row["overrides"] = " ".join(overrides)
        row["dir"] = os.path.relpath(job_dir, sweep_dir)
        rows.append(row)
    table = pd.DataFrame(rows)
    tail = [c for c in ("error", "overrides", "dir") if c in table.columns]
    return table[[c for c in table.columns if c not in tail] + tail] if rows else table


class MultirunSummary(Callback):
    """Hydra callback writing ``<sweep dir>/summary.csv`` during and after a multirun.

    It also closes the job's W&B run after every job (one W&B run per job, marked
    failed if the job raised) and records a raised exception in the job's
    ``error.json``.

    Parameters
    ----------
    filename
        Name of the table in the sweep directory.
    """

    def __init__(self, filename: str = "summary.csv") -> None:
        self.filename = filename

    @staticmethod
    def _multirun(config: DictConfig) -> bool:
        return OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN

    @staticmethod
    def _sweep_dir(config: DictConfig) -> Path | None:
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir")
        return Path(os.path.abspath(str(sweep_dir))) if sweep_dir else None

    def write(self, config: DictConfig) -> Path | None:
        """Rebuild the summary of the multirun ``config`` belongs to; return its path."""
        sweep_dir = self._sweep_dir(config)
        if sweep_dir is None or not sweep_dir.is_dir():
            return None
        table = collect_jobs(sweep_dir, OmegaConf.select(config, "hydra.output_subdir"))
        path = sweep_dir / self.filename
        atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
        return path

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        failed = job_return.status == JobStatus.FAILED
        finish(exit_code=1 if failed else None)
        if not self._multirun(config):
            return
        output_dir = Path(OmegaConf.select(config, "hydra.runtime.output_dir"))
        if failed and not (output_dir / ERROR_FILE).is_file():
            err = job_return._return_value  # the exception; `.return_value` would re-raise it
            if isinstance(err, BaseException):
                write_error(output_dir, err)
        self.write(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = self.write(config)
        if path is None:
            return
        table = pd.read_csv(path)
        if table.empty:
            return
        counts = table["status"].value_counts().to_dict()
        log.info("Multirun summary (%s): %s", ", ".join(f"{n} {s}" for s, n in counts.items()), path)
        failed = table[table["status"] == "failed"]
        for _, row in failed.iterrows():
            log.warning("job %s failed (%s): %s", row["job"], row.get("overrides", ""), row.get("error", ""))
        if len(failed) == len(table):
            log.error("every job of the multirun failed; see %s", path)
