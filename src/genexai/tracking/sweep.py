"""Keep a sweep going when one of its jobs fails.

Hydra's grid sweeper stops a whole multirun at the first job that raises, and the
Optuna sweeper (hydra-optuna-sweeper 1.3.0) does too unless ``max_failure_rate``
allows it; a :class:`~genexai.errors.GenexaiError` turned into ``sys.exit(2)`` by
:func:`genexai.cli.report_errors` stops either one outright. :func:`sweep_safe`
turns a failed job of a multirun into a logged error, an ``error.json`` in the
job's directory and a ``None`` return value, which Optuna records as a failed
trial (``None`` rather than NaN: the 1.3.0 sweeper crashes when told NaN).
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genexai.cli import user_error as _user_error
from genexai.errors import GenexaiError
from genexai.tracking.wandb import finish
from genexai.utils.files import write_json

__all__ = ["ERROR_FILE", "is_multirun", "sweep_safe", "write_error"]

log = logging.getLogger(__name__)

#: Written into a failed job's directory; the multirun summary reads it.
ERROR_FILE = "error.json"


def _hydra_config() -> Any:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def is_multirun() -> bool:
    """Whether the current Hydra job is part of a multirun (``-m``, ``hydra.mode=MULTIRUN``)."""
    from hydra.types import RunMode

    hc = _hydra_config()
    return hc is not None and hc.mode == RunMode.MULTIRUN


def write_error(output_dir: str | Path, err: BaseException) -> Path:
    """Record ``err`` in ``<output_dir>/error.json`` (type, one-line message, traceback)."""
    shown = _user_error(err) or err
    message = " ".join(str(shown).split()) or type(shown).__name__
    return write_json(
        Path(output_dir) / ERROR_FILE,
        {
            "type": type(shown).__name__,
            "message": message,
            "user_error": isinstance(shown, GenexaiError),
            "traceback": "".join(traceback.format_exception(type(err), err, err.__traceback__)),
        },
    )


def _free_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def sweep_safe(task: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a Hydra task function so that one failed multirun job does not end the sweep.

    Put it innermost, below :func:`genexai.cli.report_errors`::

        @hydra.main(version_base="1.3", config_path="configs", config_name="train")
        @report_errors
        @sweep_safe
        def main(cfg): ...

    * Every job (single run or multirun) ends with :func:`genexai.tracking.finish`, so
      each job of a sweep gets its own W&B run; a failed job's run is marked failed.
    * In a multirun, an exception (out of memory, bad hyperparameters, a
      ``GenexaiError``) is logged (one line for a ``GenexaiError``, with traceback
      otherwise), saved to ``error.json`` in the job's directory, and the job returns
      ``None``: Optuna marks the trial failed, the grid sweeper moves on, and the
      multirun summary lists the job as ``failed``. A NaN objective also returns
      ``None`` (the trial is failed; its metrics stay in ``metrics.json``).
    * In a single run nothing is caught: the error reaches ``report_errors``.
    """

    @functools.wraps(task)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = task(*args, **kwargs)
        except Exception as err:
            finish(exit_code=1)
            if not is_multirun():
                raise
            hc = _hydra_config()
            job = f"job {hc.job.num} ({' '.join(hc.overrides.task) or 'no overrides'})"
            user_error = _user_error(err)
            if user_error is not None:
                log.error("%s failed: genexai error: %s", job, user_error)
            else:
                log.error("%s failed; the sweep goes on", job, exc_info=err)
            write_error(hc.runtime.output_dir, err)
            failed = True
        else:
            failed = False
        if failed:
            # Outside the except block the traceback (and the model, optimizer and batches its
            # frames hold) is gone: give its GPU memory back before the next job (e.g. after OOM).
            _free_memory()
            return None
        finish()
        if isinstance(result, float) and math.isnan(result) and is_multirun():
            log.warning("job %s: the optimized metric is NaN; reported as a failed trial", _hydra_config().job.num)
            return None
        return result

    return wrapper
