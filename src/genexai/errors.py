"""Project exceptions: errors a biologist can act on.

Entry points (``train.py``, ``evaluate.py``) catch :class:`GenexaiError`, print its
message on one line and exit with status 2; anything else is a bug and keeps its
traceback.
"""


class GenexaiError(Exception):
    """A user-facing error: the message says what is wrong, where, and how to fix it."""


class DataError(GenexaiError):
    """Input data (counts, metadata, h5ad) is malformed or unusable."""

    def __init__(self, source: object, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class ConfigError(GenexaiError):
    """A configuration value is invalid or inconsistent with the data."""


class AttributionError(GenexaiError):
    """An attribution method cannot be applied to the given model."""
