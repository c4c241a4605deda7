"""The torch DESeq2 engine: PyDESeq2's ``Inference`` with every gene fitted at once (:mod:`.inference`)."""

from genexai.de.torch_engine.device import check_device_name, resolve_device
from genexai.de.torch_engine.inference import TorchInference

__all__ = ["TorchInference", "check_device_name", "resolve_device"]
