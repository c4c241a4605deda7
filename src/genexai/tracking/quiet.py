"""No third-party adverts in a run's output.

PyTorch Lightning 2.6 logs "💡 Tip: ... try installing litlogger ..." (and, with
its default checkpoint callback, a litmodels tip) on every ``Trainer``, at INFO level
through ``rank_zero_info``. It offers no setting or environment variable to turn
them off, and raising the logger's level would also hide the lines that matter
(``Seed set to``, ``GPU available``, ``Trainer.fit stopped``), so a logging filter
drops exactly the tips. Warnings (``rank_zero_warn``) go through :mod:`warnings`
and are not touched. rpy2's "Embedded R ended" and "LD_LIBRARY_PATH: ..." notices (INFO, once
R's engines ran) are raised to WARNING level: they say nothing about the run.
"""

from __future__ import annotations

import logging

__all__ = ["quiet_third_party_output"]

#: The loggers ``rank_zero_info`` writes to: ``pytorch_lightning`` points
#: ``lightning_utilities``' helper at its own on import; ``lightning_fabric`` at its.
RANK_ZERO_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")

#: How every Lightning advert begins.
ADVERT_PREFIX = "💡 Tip:"


def _not_an_advert(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(ADVERT_PREFIX)


def quiet_third_party_output() -> None:
    """Drop Lightning's "💡 Tip: ... litlogger / litmodels" lines from every later ``Trainer``.

    Call it once at the start of an entry point (safe to call again). It imports
    nothing: the filter sits on the logger by name, ready before Lightning is loaded.
    """
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if _not_an_advert not in logger.filters:
            logger.addFilter(_not_an_advert)
    for name in ("rpy2.rinterface_lib.embedded", "rpy2.situation"):
        logging.getLogger(name).setLevel(logging.WARNING)
