"""Experiment tracking: W&B runs that work offline, sweep-safe jobs, multirun summaries.

``wandb`` is imported only when a W&B run is used; the CSV logger path never loads it.
"""

from genexai.tracking.multirun import MultirunSummary, collect_jobs
from genexai.tracking.quiet import quiet_third_party_output
from genexai.tracking.results import (
    evaluation_outputs,
    log_config,
    log_evaluation,
    log_image,
    log_results,
    log_table,
)
from genexai.tracking.sweep import is_multirun, sweep_safe
from genexai.tracking.wandb import WandbLogger, finish, resolve_mode

__all__ = [
    "MultirunSummary",
    "WandbLogger",
    "collect_jobs",
    "evaluation_outputs",
    "finish",
    "is_multirun",
    "log_config",
    "log_evaluation",
    "log_image",
    "log_results",
    "log_table",
    "quiet_third_party_output",
    "resolve_mode",
    "sweep_safe",
]
