"""Gradient attributions via Captum, one class per method, all on the input expression.

For a :class:`GeneTokenTransformer` with ``value_encoding="binned"`` the input is
bucketised (no gradient), so Integrated Gradients, Input x Gradient and GradientShap
switch to Captum's layer variants on the value-embedding layer and sum over the
embedding dimension (one score per gene token); saliency and DeepLift have no such
reading and refuse. Every explainer differentiates the backbone wrapped in
:class:`~genexai.attribution.target.LogOdds`, so all scores (and IG's completeness and
convergence delta) refer to the log-odds ``z_target - z_ref`` (``z_B - z_A`` by default):
positive = pushes toward class ``target``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from captum.attr import (
    DeepLift,
    GradientShap,
    InputXGradient,
    IntegratedGradients,
    LayerGradientShap,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    Saliency,
)
from torch import Tensor, nn

from genexai.attribution.base import AttributionMethod
from genexai.attribution.registry import register
from genexai.errors import AttributionError, ConfigError
from genexai.estimators.nn.transformer import GeneTokenTransformer, SelfAttention

Baseline = Tensor | np.ndarray | float | None


class _CaptumMethod(AttributionMethod):
    """Runs one Captum explainer per batch; picks its layer variant for binned transformers."""

    captum_cls: type
    layer_cls: type | None = None  # variant for the value-embedding layer; None: not applicable
    has_delta = False

    def __init__(self, model: nn.Module, batch_size: int = 64, seed: int = 0) -> None:
        super().__init__(model, batch_size=batch_size, seed=seed)
        self.layer = self.model.value_encoder if _is_binned(self.model) else None
        if self.layer is None:
            self.explainer = self.captum_cls(self.log_odds_model)
        elif self.layer_cls is None:
            raise AttributionError(
                f"{self.name} needs gradients w.r.t. expression values, but this transformer bins them "
                "(value_encoding='binned'); use integrated_gradients, input_x_gradient or gradient_shap, "
                "or value_encoding='per_gene' or 'continuous'"
            )
        else:
            self.explainer = self.layer_cls(self.log_odds_model, self.layer)

    def captum_kwargs(self, x: Tensor) -> dict[str, Any]:
        """Method-specific keyword arguments for ``explainer.attribute`` on batch ``x``."""
        return {}

    def attribute_batch(self, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor | None]:
        kwargs = self.captum_kwargs(x) | ({"return_convergence_delta": True} if self.has_delta else {})
        out = self.explainer.attribute(x, target=target, **kwargs)
        attr, delta = out if self.has_delta else (out, None)
        return (attr.sum(dim=-1) if self.layer is not None else attr), delta


def _is_binned(model: nn.Module) -> bool:
    return isinstance(model, GeneTokenTransformer) and model.value_encoding == "binned"


def _as_baseline(baseline: Baseline, name: str) -> Tensor | None:
    """``None`` (zeros = training mean after standardisation), a scalar, or one value per gene."""
    if baseline is None:
        return None
    tensor = torch.as_tensor(np.asarray(baseline), dtype=torch.float32)
    if tensor.ndim > 1 and tensor.shape[0] != 1:
        raise ConfigError(f"{name}: baseline must be a scalar or one value per gene, got shape {tuple(tensor.shape)}")
    return tensor.reshape(-1)


def _expand(baseline: Tensor | None, x: Tensor, name: str) -> Tensor:
    if baseline is None:
        return torch.zeros_like(x)
    if baseline.numel() not in (1, x.shape[1]):
        raise AttributionError(f"{name}: baseline has {baseline.numel()} values but inputs have {x.shape[1]} genes")
    return baseline.to(x.device).expand_as(x)


@register("integrated_gradients")
class IntegratedGradientsMethod(_CaptumMethod):
    """Integrated Gradients (Sundararajan et al. 2017) from an explicit baseline.

    The default baseline is all zeros, i.e. the training mean after per-gene
    standardisation. Completeness: a sample's scores sum to ``f(x) - f(baseline)``, ``f``
    the explained log-odds (``z_B - z_A``), up to ``last_delta`` (shrinks with
    ``n_steps``). The ``n_steps`` interpolated copies of a batch are evaluated
    ``internal_batch_size`` (default ``batch_size``) at a time.
    """

    direction = "baseline"

    captum_cls, layer_cls, has_delta = IntegratedGradients, LayerIntegratedGradients, True

    def __init__(
        self,
        model: nn.Module,
        n_steps: int = 50,
        method: str = "gausslegendre",
        baseline: Baseline = None,
        internal_batch_size: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, **options)
        self.n_steps, self.method = n_steps, method
        self.internal_batch_size = internal_batch_size or self.batch_size
        self.baseline = _as_baseline(baseline, self.name)

    def captum_kwargs(self, x: Tensor) -> dict[str, Any]:
        return {
            "baselines": _expand(self.baseline, x, self.name),
            "n_steps": self.n_steps,
            "method": self.method,
            "internal_batch_size": self.internal_batch_size,
        }


@register("input_x_gradient")
class InputXGradientMethod(_CaptumMethod):
    """Input x gradient: first-order contribution relative to the zero (training-mean) input."""

    direction = "baseline"

    captum_cls, layer_cls = InputXGradient, LayerGradientXActivation


@register("saliency")
class SaliencyMethod(_CaptumMethod):
    """Gradient of the target's log-odds (``z_B - z_A`` by default) w.r.t. each gene's value.

    Signed by default (``abs=False``, unlike Captum's default) so the per-class signed
    means carry a direction; importance tables take ``|a|`` anyway.
    """

    direction = "gradient"

    captum_cls = Saliency

    def __init__(self, model: nn.Module, abs: bool = False, **options: Any) -> None:  # noqa: A002 (Captum's name)
        super().__init__(model, **options)
        self.abs = abs

    def captum_kwargs(self, x: Tensor) -> dict[str, Any]:
        return {"abs": self.abs}


@register("deep_lift")
class DeepLiftMethod(_CaptumMethod):
    """DeepLift (Rescale rule) relative to a baseline (default zeros = training mean); MLP-type models only.

    Captum's DeepLift overrides the backward of nonlinearity *modules*; functional ops
    (softmax/matmul inside attention) and a module reused at two places silently break
    its rules, so such models are refused.
    """

    direction = "baseline"

    captum_cls, has_delta = DeepLift, True

    def __init__(self, model: nn.Module, baseline: Baseline = None, **options: Any) -> None:
        super().__init__(model, **options)
        self.baseline = _as_baseline(baseline, self.name)

    def check_model(self, model: nn.Module) -> None:
        if any(isinstance(m, SelfAttention | nn.MultiheadAttention) for m in model.modules()):
            raise AttributionError(
                f"deep_lift cannot explain {type(model).__name__}: its attention uses functional ops that break "
                "DeepLift's rules; use integrated_gradients on this model, or deep_lift on the MLP"
            )
        counts: dict[int, int] = {}
        for _, module in model.named_modules(remove_duplicate=False):
            counts[id(module)] = counts.get(id(module), 0) + 1
            if counts[id(module)] > 1 and not list(module.children()):
                raise AttributionError(
                    f"deep_lift cannot explain {type(model).__name__}: module {type(module).__name__} is reused; "
                    "give every nonlinearity its own instance"
                )

    def captum_kwargs(self, x: Tensor) -> dict[str, Any]:
        return {"baselines": _expand(self.baseline, x, self.name)}

    def attribute_batch(self, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor | None]:
        with warnings.catch_warnings():  # Captum announces its temporary hooks on every call
            warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
            return super().attribute_batch(x, target)


@register("gradient_shap")
class GradientShapMethod(_CaptumMethod):
    """GradientShap (expected gradients) over a baseline distribution.

    ``baselines`` is a ``[m, n_genes]`` reference set, ideally training samples. Without
    it, ``n_baselines`` draws from ``N(0, baseline_sd^2)`` per gene are used: with the
    default ``baseline_sd=1`` this is the standardised training distribution's mean and
    spread (gene correlations ignored). Draws are seeded by ``seed``. Captum evaluates
    ``n_samples`` copies of every input at once, so batches hold ``batch_size // n_samples``
    inputs to keep ``batch_size`` model evaluations per pass.
    """

    direction = "baseline"

    captum_cls, layer_cls, has_delta = GradientShap, LayerGradientShap, True

    def __init__(
        self,
        model: nn.Module,
        baselines: Tensor | np.ndarray | None = None,
        n_baselines: int = 20,
        baseline_sd: float = 1.0,
        n_samples: int = 20,
        stdevs: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(model, **options)
        self.baselines = None if baselines is None else torch.as_tensor(np.asarray(baselines), dtype=torch.float32)
        if self.baselines is not None and self.baselines.ndim != 2:
            raise ConfigError(
                f"gradient_shap: baselines must be (samples, genes), got shape {tuple(self.baselines.shape)}"
            )
        self.n_baselines, self.baseline_sd, self.n_samples, self.stdevs = n_baselines, baseline_sd, n_samples, stdevs
        self.batch_size = max(1, self.batch_size // n_samples)

    def captum_kwargs(self, x: Tensor) -> dict[str, Any]:
        if self.baselines is None:
            generator = torch.Generator().manual_seed(self.seed)  # same reference set for every batch
            baselines = self.baseline_sd * torch.randn(self.n_baselines, x.shape[1], generator=generator)
        elif self.baselines.shape[1] != x.shape[1]:
            raise AttributionError(
                f"gradient_shap: baselines have {self.baselines.shape[1]} genes but inputs have {x.shape[1]}"
            )
        else:
            baselines = self.baselines
        return {"baselines": baselines.to(x.device), "n_samples": self.n_samples, "stdevs": self.stdevs}
