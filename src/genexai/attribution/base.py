"""The one interface every attribution method presents (Captum-shaped).

``method.attribute(inputs, target=1)`` returns one score per sample and gene (or one per
gene for a global importance), explaining class ``target``. :class:`Explainer` is that
contract for every kind of model; :class:`AttributionMethod` implements it for torch
backbones (the log-odds of class ``target`` against the reference, ``z_1 - z_0`` for two
classes; :mod:`genexai.attribution.target`) and owns everything those methods share:
eval mode, batching, device placement, target handling, seeding and convergence deltas,
so each method only implements one batch. The scikit-learn/XGBoost counterpart is
:class:`genexai.attribution.classical.ClassicalAttribution`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from genexai.attribution.target import LogOdds, check_targets
from genexai.errors import AttributionError, ConfigError

Target = int | Tensor

#: Kinds of model a method explains (:attr:`Explainer.applies_to`).
TORCH, CLASSICAL = "torch", "classical"
#: Shapes of a result (:attr:`Explainer.shape`): one score per sample and gene, one per
#: gene, or one signed score per gene whose importance is its magnitude (coefficients).
PER_SAMPLE, GLOBAL, GLOBAL_SIGNED = "per_sample", "global", "global_signed"


def model_kind(model: Any) -> str | None:
    """``TORCH`` for a torch module (or a wrapper with ``.backbone``), ``CLASSICAL`` for a
    :class:`~genexai.estimators.classical.ClassicalModel`, else ``None``.

    The classical model is recognised by what the methods use (``estimator``,
    ``decision``) rather than by class, so this stage does not import the estimators.
    """
    if isinstance(getattr(model, "backbone", model), nn.Module):
        return TORCH
    if hasattr(model, "estimator") and callable(getattr(model, "decision", None)):
        return CLASSICAL
    return None


class Explainer(ABC):
    """What the attribution loop needs of a method, whatever the model.

    Construction (``cls(model, seed=..., **options)``) raises :class:`AttributionError`
    when the method does not apply to ``model`` (the loop may skip it then), and
    :class:`ConfigError` for invalid options.
    """

    name: str = ""
    #: The kind of model explained: ``TORCH`` or ``CLASSICAL``.
    applies_to: str = TORCH
    #: ``PER_SAMPLE``, ``GLOBAL`` or ``GLOBAL_SIGNED``: how the table aggregates the result.
    shape: str = PER_SAMPLE
    #: How a gene's direction (up or down in B) is read from the scores:
    #: ``"baseline"`` — scores are relative to the training mean (IG, input×gradient,
    #: DeepLift, GradientShap, TreeSHAP, coef×input, feature ablation), so ``a · sign(x)``
    #: has the sign of the gene's effect; ``"gradient"`` — scores are gradients, whose
    #: mean has that sign (saliency); ``None`` — unsigned (attention).
    direction: str | None = None
    #: Whether the constructor takes the class ``labels`` of the explained samples
    #: (scores of the predictions, e.g. permutation importance).
    uses_labels: bool = False

    @abstractmethod
    def attribute(self, inputs: Tensor | np.ndarray, target: Target = 1) -> Tensor:
        """Scores ``[B, G]`` (``PER_SAMPLE``) or ``[G]`` (global) explaining class ``target``."""

    def info(self) -> dict[str, Any]:
        """Summary of the last call worth logging (e.g. a convergence delta)."""
        return {}

    @abstractmethod
    def summary(self, seconds: float) -> dict[str, Any]:
        """The run record of the last call (``seconds`` its wall time), as ``metrics.json`` stores it."""


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch and numpy (Captum samples with both) and restore their global state on exit."""
    np_state = np.random.get_state()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)


class AttributionMethod(Explainer):
    """Per-sample, per-gene attribution for a backbone ``(B, n_genes) -> (B, n_classes)``.

    Parameters
    ----------
    model
        The backbone; a wrapper exposing ``.backbone`` (e.g. ``GeneClassifier``) is unwrapped.
    batch_size
        Samples per forward/backward pass; bounds memory, does not change results
        (except for sampling-based methods, whose draws depend on the batch layout).
    seed
        Seeds the random draws of sampling-based methods; the global RNG state is restored.

    Attributes
    ----------
    last_delta
        Per-sample convergence delta of the last call for methods that define one
        (Integrated Gradients, DeepLift, GradientShap), else ``None``.
    """

    def __init__(self, model: nn.Module, batch_size: int = 64, seed: int = 0) -> None:
        model = getattr(model, "backbone", model)
        if not isinstance(model, nn.Module):
            raise AttributionError(f"{self.name}: expected a torch.nn.Module backbone, got {type(model).__name__}")
        if batch_size < 1:
            raise ConfigError(f"{self.name}: batch_size={batch_size} must be a positive integer")
        self.model, self.batch_size, self.seed = model, batch_size, seed
        # What gradient methods differentiate: column t = the log-odds contrast of class t.
        self.log_odds_model = LogOdds(model)
        self.last_delta: Tensor | None = None
        self.check_model(model)

    def check_model(self, model: nn.Module) -> None:
        """Raise :class:`AttributionError` if the method cannot be applied to ``model``."""

    @abstractmethod
    def attribute_batch(self, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor | None]:
        """Attributions ``[b, G]`` for one batch on the model's device, and an optional delta ``[b]``.

        Gradient methods explain ``log_odds(model(x), target)``, e.g. through
        ``self.log_odds_model`` whose column ``t`` is that contrast.
        """

    def attribute(self, inputs: Tensor | np.ndarray, target: Target = 1) -> Tensor:
        """Attributions ``[B, G]`` (float32, CPU) of the log-odds of class ``target`` for each sample.

        ``target`` is a class index for all samples or a tensor ``[B]``. With two classes the
        default 1 explains ``z_B - z_A`` (``z_1 - z_0``): a positive score is evidence for
        B over the reference A, and ``target=0`` gives exactly the negated scores.
        """
        x = torch.as_tensor(inputs, dtype=torch.float32)
        if x.ndim != 2:
            raise AttributionError(f"{self.name}: inputs must be (samples, genes), got shape {tuple(x.shape)}")
        targets = self._targets(target, x.shape[0])
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        chunks, deltas = [], []
        try:
            if x.shape[0]:
                with torch.no_grad():  # one sample tells the number of classes the targets must fit
                    check_targets(targets, self.model(x[:1].to(device)).shape[1])
            # Gradients are needed even when called from a Lightning test/predict loop.
            with seeded(self.seed), torch.inference_mode(False), torch.enable_grad():
                for start in range(0, x.shape[0], self.batch_size):
                    rows = slice(start, start + self.batch_size)
                    # Captum wants inputs that require grad; it also keeps attention outputs in the graph.
                    batch = x[rows].to(device).clone().requires_grad_(True)
                    attr, delta = self.attribute_batch(batch, targets[rows].to(device))
                    chunks.append(attr.detach().float().cpu())
                    if delta is not None:
                        deltas.append(delta.detach().float().cpu().reshape(-1))
        finally:
            self.model.train(was_training)
        self.last_delta = torch.cat(deltas) if deltas else None
        return torch.cat(chunks) if chunks else x.new_zeros(x.shape)

    def info(self) -> dict[str, Any]:
        """Summary of the last call worth logging (convergence delta for methods that have one)."""
        if self.last_delta is None:
            return {}
        abs_delta = self.last_delta.abs()
        return {"delta_abs_mean": abs_delta.mean().item(), "delta_abs_max": abs_delta.max().item()}

    def summary(self, seconds: float) -> dict[str, Any]:
        return {"seconds": seconds, "direction": self.direction, **self.info()}

    def _targets(self, target: Target, n: int) -> Tensor:
        if isinstance(target, int | np.integer):
            return torch.full((n,), int(target), dtype=torch.long)
        target = torch.as_tensor(target, dtype=torch.long).reshape(-1)
        if target.shape[0] != n:
            raise AttributionError(
                f"{self.name}: target has {target.shape[0]} entries for {n} samples; "
                "pass one class index or one per sample"
            )
        return target
