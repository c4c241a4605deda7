"""Shared behaviour of the command-line entry points."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from genexai.errors import GenexaiError

__all__ = ["EXIT_USER_ERROR", "check_overrides", "report_errors", "user_error"]

#: Exit status for bad input or configuration (a bug keeps Python's status 1 and its traceback).
EXIT_USER_ERROR = 2


def user_error(err: BaseException) -> GenexaiError | None:
    """The :class:`GenexaiError` behind ``err``, looking through wrappers such as Hydra's InstantiationException.

    A required config value left unset (``???``) or an interpolation that cannot be
    resolved is the user's to fix too, so it becomes a :class:`ConfigError`.
    """
    from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

    from genexai.errors import ConfigError

    while err is not None:
        if isinstance(err, GenexaiError):
            return err
        if isinstance(err, MissingMandatoryValue):  # a `???` left in the config
            key = getattr(err, "full_key", None) or "a required key"
            return ConfigError(f"{key} has no value; set it on the command line, e.g. {key}=<value>")
        if isinstance(err, InterpolationResolutionError):
            key = getattr(err, "full_key", None) or "a config value"
            return ConfigError(f"cannot resolve {key}: {str(err).splitlines()[0]}")
        err = err.__cause__
    return None


def report_errors(main: Callable[..., Any]) -> Callable[..., Any]:
    """Print a :class:`GenexaiError` as one line on stderr and exit with status 2.

    ``HYDRA_FULL_ERROR=1`` or ``GENEXAI_VERBOSE=1`` re-raises it with the full traceback.
    """

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except Exception as err:
            cause = user_error(err)
            verbose = os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("GENEXAI_VERBOSE") == "1"
            if cause is None or verbose:
                raise
            print(f"genexai error: {cause}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)

    return wrapper


#: Command-line flags after which Hydra does something other than one run (left to Hydra).
_HYDRA_MODES = ("-m", "--multirun", "-c", "--cfg", "-h", "--help", "--hydra-help", "--info", "-i", "--shell-completion", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir")


def _one_line(message: str) -> str:
    """Hydra's multi-line composition message as one line; option lists become comma-separated."""
    parts: list[str] = []
    for line in message.split("Config search path:")[0].splitlines():
        text = line.strip()
        if not text or text.startswith("See https://hydra.cc"):
            continue
        if line.startswith("\t") and parts:  # one option of an "Available options in 'x':" list
            parts[-1] += (" " if parts[-1].endswith(":") else ", ") + text
        else:
            parts.append(text)
    return " ".join(part if part.endswith((".", ":")) else part + ";" for part in parts).rstrip(";")


def _unparsable(argv: Sequence[str]) -> str:
    """The first command-line override that Hydra's grammar rejects."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for arg in argv:
        try:
            parser.parse_overrides([arg])
        except OverrideParseException:
            return arg
    return " ".join(argv)


def check_overrides(config_dir: str | Path, config_name: str, argv: Sequence[str]) -> None:
    """Compose the configuration once before Hydra runs, so a mistyped key or option is one line and exit 2.

    Hydra itself reports composition errors on several lines and exits with status 1,
    the status of a crash. Multirun and Hydra's informational flags are left to Hydra.
    """
    if any(arg.split("=", 1)[0] in _HYDRA_MODES for arg in argv):
        return
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException, OverrideParseException

    with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base="1.3"):
        try:
            compose(config_name, overrides=list(argv), return_hydra_config=True)
        except HydraException as err:
            if os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("GENEXAI_VERBOSE") == "1":
                raise
            message = _one_line(str(err))
            if isinstance(err, OverrideParseException):
                message = f"cannot parse the override {_unparsable(argv)!r} ({message}); write overrides as key=value"
            print(f"genexai error: configuration: {message}", file=sys.stderr)
            sys.exit(EXIT_USER_ERROR)


def run_summary(run_dir: str | Path, metrics: dict[str, Any], *, evaluated: bool) -> list[str]:
    """The few lines a run ends with: where it is, how well the model classifies, how its genes agree, what next.

    Test AUROC with its CI; the best attribution method's AUPRC against the DE hits and
    against the truth (where the data has one), each beside its chance level (from
    ``evaluation/comparison.csv``); and the next command to run.
    """
    import pandas as pd

    run_dir = Path(run_dir)
    lines = [f"run directory: {run_dir}"]
    if "test/auroc" in metrics:
        auroc = f"test AUROC {metrics['test/auroc']:.3f}"
        if "test/auroc_ci_low" in metrics:
            auroc += (f" ({100 * metrics.get('test/ci_level', 0.95):.0f}% CI {metrics['test/auroc_ci_low']:.3f}–"
                      f"{metrics['test/auroc_ci_high']:.3f}, {metrics.get('test/n_samples', '?')} test samples)")
        lines.append(auroc)
    comparison_file = run_dir / "comparison.csv" if (run_dir / "comparison.csv").is_file() else run_dir / "evaluation" / "comparison.csv"
    if comparison_file.is_file():
        from genexai.evaluation.compare import de_label
        from genexai.utils.contrasts import CONTRAST, OMNIBUS

        def class_agnostic(frame: pd.DataFrame) -> pd.DataFrame:  # K > 2 classes: the omnibus rows
            return frame[frame[CONTRAST] == OMNIBUS] if CONTRAST in frame.columns else frame

        table = pd.read_csv(comparison_file)
        de_name = str(metrics.get("eval/de_baseline", "deseq2"))
        omnibus = " (omnibus)" if CONTRAST in table.columns else ""
        table = class_agnostic(table)
        for reference, label in ((de_name, f"{de_label(de_name)}{omnibus} hits"), ("truth", f"the truth{omnibus}")):
            rows = table[(table["reference"] == reference) & (table["method"] != de_name)].dropna(subset=["auprc"])
            if len(rows):
                best = rows.loc[rows["auprc"].idxmax()]
                lines.append(f"best attribution vs {label}: {best['method']} AUPRC {best['auprc']:.3f} "
                             f"(chance {best['chance_auprc']:.3f})")
        ceiling_file = comparison_file.with_name("de_ceiling.csv")
        if ceiling_file.is_file():
            for row in class_agnostic(pd.read_csv(ceiling_file)).to_dict("records"):
                lines.append(f"inter-tool ceiling: {de_label(row['method'])} ranking vs {de_label(de_name)} hits "
                             f"AUPRC {row['auprc']:.3f}")
    report = run_dir / "report.html" if (run_dir / "report.html").is_file() else run_dir / "evaluation" / "report.html"
    if report.is_file():
        lines.append(f"next: open {report}")
    elif not evaluated:
        lines.append(f"next: python evaluate.py run_dir={run_dir}")
    return lines


def print_run_summary(run_dir: str | Path, metrics: dict[str, Any], *, evaluated: bool) -> None:
    """Print :func:`run_summary` on stdout (after Lightning's and the loggers' output)."""
    print("\n".join(["", "genexai: done", *(f"  {line}" for line in run_summary(run_dir, metrics, evaluated=evaluated))]))
