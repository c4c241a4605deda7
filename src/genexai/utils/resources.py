"""Wall time and peak memory of one stage of a run (data, DE, training, attribution).

The peak is the process's resident set size (RSS) sampled in a background thread while
the stage runs: what the machine had to provide, whatever allocated it (NumPy, PyTorch's
CPU allocator, a BLAS library), which ``tracemalloc`` would miss. Sampling every 20 ms
can miss a shorter spike; stages worth measuring last far longer.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["Usage", "measure", "rss_mib"]

_PAGE_MIB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 4096 / 2**20


def rss_mib() -> float:
    """Current resident set size of this process in MiB (``/proc``; the peak so far elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE_MIB
    except OSError:  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS) is the best available
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Usage:
    """What :func:`measure` recorded: seconds and peak RSS (MiB) of the stage."""

    seconds: float = 0.0
    peak_rss_mib: float = 0.0


@contextmanager
def measure(interval_s: float = 0.02) -> Iterator[Usage]:
    """Time the ``with`` block and record the highest RSS seen while it ran."""
    usage = Usage(peak_rss_mib=rss_mib())
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval_s):
            usage.peak_rss_mib = max(usage.peak_rss_mib, rss_mib())

    sampler = threading.Thread(target=sample, name="genexai-rss-sampler", daemon=True)
    started = time.perf_counter()
    sampler.start()
    try:
        yield usage
    finally:
        done.set()
        sampler.join()
        usage.seconds = time.perf_counter() - started
        usage.peak_rss_mib = round(max(usage.peak_rss_mib, rss_mib()), 1)
