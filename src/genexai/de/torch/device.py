"""Device names of the torch engine (``de.device``) and its thread setting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from genexai.errors import ConfigError

__all__ = ["check_device_name", "resolve_device", "torch_threads"]

_DEVICES = ("cpu", "cuda", "auto")


def check_device_name(device: str | torch.device) -> str:
    """Return the normalised device name; raise a one-line ConfigError for an unknown one."""
    name = str(device).strip().lower()
    if name in _DEVICES or (name.startswith("cuda:") and name[5:].isdigit()):
        return name
    raise ConfigError(f"de.device must be one of {list(_DEVICES)} (or cuda:N), got {device!r}.")


def resolve_device(device: str | torch.device) -> torch.device:
    """Return the torch device for ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.

    ``"auto"`` picks CUDA when available, else the CPU. An unknown name, or CUDA on a
    machine without it, raises :class:`~genexai.errors.ConfigError`.
    """
    if isinstance(device, torch.device):
        return device
    name = check_device_name(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"de.device={device!r} but no CUDA GPU is available here; use de.device=cpu or auto.")
    return torch.device(name)


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run with ``n_threads`` intra-op torch threads, restoring the previous setting."""
    if not n_threads:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
