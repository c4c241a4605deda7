"""Experiment tracking: W&B runs that work offline, sweep-safe jobs, multirun summaries.

``wandb`` is imported only when a W&B run is used; the CSV logger path never loads it.
"""

from genexai.tracking.multirun import MultirunSummary, collect_jobs
from genexai.tracking.sweep import is_multirun, sweep_safe
from genexai.tracking.wandb import (
    WandbLogger,
    evaluation_outputs,
    finish,
    log_config,
    log_evaluation,
    log_results,
    read_offline_run,
    resolve_mode,
    setup_environment,
)

__all__ = [
    "MultirunSummary",
    "WandbLogger",
    "collect_jobs",
    "evaluation_outputs",
    "finish",
    "is_multirun",
    "log_config",
    "log_evaluation",
    "log_results",
    "read_offline_run",
    "resolve_mode",
    "setup_environment",
    "sweep_safe",
]
