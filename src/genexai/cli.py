"""Shared behaviour of the command-line entry points."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from genexai.errors import GenexaiError

__all__ = ["report_errors", "user_error", "EXIT_USER_ERROR"]

#: Exit status for bad input or configuration (a bug keeps Python's status 1 and its traceback).
EXIT_USER_ERROR = 2


def user_error(err: BaseException) -> GenexaiError | None:
    """The :class:`GenexaiError` behind ``err``, looking through wrappers such as Hydra's InstantiationException."""
    while err is not None:
        if isinstance(err, GenexaiError):
            return err
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
