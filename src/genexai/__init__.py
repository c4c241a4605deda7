"""genexai: do the genes a classifier of bulk RNA-seq samples relies on agree with DESeq2's, and which is closer to the truth?

``genexai.run(adata, overrides)`` is the Python entry point (:mod:`genexai.api`); the
command-line entry points are ``train.py``, ``evaluate.py`` and ``benchmark.py``.
"""

import importlib
from importlib.metadata import version as _v

__version__ = _v("genexai")


def __getattr__(name: str):
    # Lazy: `import genexai` stays light (no torch, no Lightning) until the API is used.
    if name == "run":
        return importlib.import_module("genexai.api").run
    raise AttributeError(f"module 'genexai' has no attribute {name!r}")
