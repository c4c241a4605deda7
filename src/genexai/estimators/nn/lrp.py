"""AttnLRP rules (Achtibat et al., ICML 2024) as gradient modifications, switched per module.

LRP relevance at a layer's input equals ``input * modified_gradient`` when every op's
backward is replaced by its rule ("Gradient x Input" form of the rules, as in the
authors' efficient implementation), so one ordinary backward pass computes AttnLRP:

- **identity rule** on element-wise nonlinearities: ``y = x * (f(x) / x)`` with the
  ratio treated as a constant, so the relevance ``f(x) * g`` passes through unchanged;
- **uniform rule** on the bilinear attention products ``softmax(q k^T) v`` and
  ``q k^T``: each factor receives half the gradient, i.e. ``v`` gets 1/2 and ``q``, ``k``
  get 1/4 (1/2 at the output product times 1/2 at ``q k^T``) — applied directly to
  ``q, k, v`` so the fused attention kernel is kept;
- **softmax** keeps its plain gradient: ``input * gradient`` there is the paper's
  softmax rule ``R_in = s * (R_out - A * sum R_out)``, whose bias term absorbs part of
  the relevance;
- **LayerNorm** with the gradient stopped through its standard deviation, which makes
  it linear in the input; the mean subtraction is linear and keeps its gradient (stopping
  it would lose ``mean * gradient`` of relevance);
- **linear layers** keep their plain gradient (epsilon rule, ``epsilon -> 0``); their
  biases absorb ``bias * gradient``.

Every rule returns the unmodified forward value bit for bit
(:func:`with_gradient_of`), so switching the rules on changes gradients only. The
rules are off unless a module's ``lrp`` flag is set (``GeneTokenTransformer.lrp_mode``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def with_gradient_of(value: Tensor, surrogate: Tensor) -> Tensor:
    """``value`` in the forward pass, the gradient of ``surrogate`` in the backward pass.

    ``surrogate - surrogate.detach()`` is exactly zero, so the result equals ``value``
    bit for bit; only the graph behind it is the surrogate's.
    """
    return value.detach() + (surrogate - surrogate.detach())


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    """``x`` unchanged, with its incoming gradient multiplied by ``factor`` (the uniform rule)."""
    return with_gradient_of(x, x * factor)


class LRPGELU(nn.GELU):
    """GELU that applies the identity rule while ``lrp`` is set.

    ``gelu(x) = x * ratio(x)`` exactly, with ``ratio = Phi(x)`` (or its tanh
    approximation), so the ratio needs no division by ``x`` and no special case at 0.
    """

    lrp: bool = False

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        if not self.lrp:
            return out
        if self.approximate == "tanh":
            ratio = 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))
        else:
            ratio = 0.5 * (1.0 + torch.erf(x * 2.0**-0.5))
        return with_gradient_of(out, x * ratio.detach())


class LRPLayerNorm(nn.LayerNorm):
    """LayerNorm whose standard deviation is a constant in the backward pass while ``lrp`` is set."""

    lrp: bool = False

    def forward(self, x: Tensor) -> Tensor:
        out = super().forward(x)
        if not self.lrp:
            return out
        dims = tuple(range(-len(self.normalized_shape), 0))
        centred = x - x.mean(dim=dims, keepdim=True)
        std = (centred.pow(2).mean(dim=dims, keepdim=True) + self.eps).sqrt()
        surrogate = centred / std.detach()
        if self.weight is not None:
            surrogate = surrogate * self.weight
        if self.bias is not None:
            surrogate = surrogate + self.bias
        return with_gradient_of(out, surrogate)


def lrp_attention(q: Tensor, k: Tensor, v: Tensor, lrp: bool, dropout_p: float) -> Tensor:
    """``softmax(q k^T / sqrt(d)) v`` on the fused kernel; with ``lrp``, the uniform rule on both products."""
    if lrp:
        q, k, v = scale_gradient(q, 0.25), scale_gradient(k, 0.25), scale_gradient(v, 0.5)
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
