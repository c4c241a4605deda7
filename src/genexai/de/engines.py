"""DESeq2 inference engines selectable by name (``de.inference``, ``de.device``), validated up front.

``default`` and ``torch`` are PyDESeq2 :class:`~pydeseq2.inference.Inference` backends;
``r`` is R's DESeq2 itself (through rpy2, :mod:`genexai.de.r`), the reference the other two
are compared with.
"""

from __future__ import annotations

from pydeseq2.default_inference import DefaultInference
from pydeseq2.inference import Inference

from genexai.de.options import check_pipeline
from genexai.errors import ConfigError

__all__ = ["INFERENCE_ENGINES", "check_de_config", "check_engine", "make_inference"]

#: Inference engines selectable by name (``de.inference``).
INFERENCE_ENGINES: tuple[str, ...] = ("default", "torch", "r")


def check_engine(inference: str) -> str:
    """Return ``inference`` if it names an engine, else raise a one-line ConfigError."""
    if not isinstance(inference, str) or inference not in INFERENCE_ENGINES:
        raise ConfigError(
            f"de.inference must be one of {list(INFERENCE_ENGINES)}, got {inference!r}; "
            "'default' is PyDESeq2's own per-gene fits, 'torch' fits all genes at once, 'r' is R's DESeq2."
        )
    return inference


def check_de_config(de_cfg) -> None:
    """Validate ``de.inference`` / ``de.pipeline`` / ``de.device`` of a DE config up front (one-line ConfigError).

    Called before training when ``evaluate=true``, so a typo does not surface only
    after the model has trained; CUDA availability is checked for the torch engine.
    """
    from genexai.de.torch import check_device_name, resolve_device

    engine = check_engine(de_cfg.get("inference", "default"))
    check_pipeline(de_cfg.get("pipeline", "r"))
    device = de_cfg.get("device", "cpu")
    check_device_name(device)
    if engine == "torch":
        resolve_device(device)


def make_inference(inference: str = "default", device: str = "cpu", n_cpus: int = 1) -> Inference:
    """Build the PyDESeq2 inference object for an engine name.

    Parameters
    ----------
    inference : {"default", "torch"}
        ``default``: PyDESeq2's :class:`DefaultInference` (per-gene scipy fits in a
        joblib loop over ``n_cpus`` processes). ``torch``:
        :class:`genexai.de.torch.TorchInference` (all genes at once as
        tensors, ``n_cpus`` torch threads).
    device : str
        ``cpu``, ``cuda`` or ``auto``; used by the torch engine only (validated always).
    n_cpus : int
        Processes (default engine) or threads (torch engine).
    """
    check_engine(inference)
    if inference == "r":
        raise ConfigError("R's DESeq2 is not a PyDESeq2 inference backend; run it through run_deseq2(inference='r')")
    from genexai.de.torch import TorchInference, check_device_name

    check_device_name(device)
    if inference == "torch":
        return TorchInference(device=device, n_cpus=n_cpus)
    return DefaultInference(n_cpus=n_cpus)
