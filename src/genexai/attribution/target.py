"""What every neural attribution explains: the log-odds of the target class, not its logit.

A softmax head is invariant to adding the same constant to every logit, so with two
classes only ``z_1 - z_0`` is identified by the data; logit 1 alone can move in ways the
probabilities never see (e.g. a gene that only lowers ``z_0`` gets zero attribution on
``z_1`` although it pushes toward class 1). Every gradient-based method therefore
explains the contrast ``z_t - z_ref``:

- two classes: ``target=1`` explains ``z_1 - z_0`` (class B vs the reference A) and
  ``target=0`` explains ``z_0 - z_1``, its negative (as the classical models do);
- ``K > 2`` classes: ``target=t`` explains ``z_t - z_0`` (class ``t`` vs the reference
  class 0); ``target=0`` would be the zero contrast and is refused.

:class:`LogOdds` wraps a backbone so that output column ``t`` *is* that contrast, so
Captum's own ``target`` handling (and its convergence deltas) apply unchanged.
"""

from __future__ import annotations

from torch import Tensor, nn

from genexai.errors import AttributionError


def contrasts(logits: Tensor) -> Tensor:
    """Column ``t`` = the log-odds contrast explained for ``target=t`` (see module docstring)."""
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise AttributionError(
            f"attribution explains log-odds between classes, but the model returned logits of shape "
            f"{tuple(logits.shape)}; it needs (samples, n_classes) with n_classes >= 2"
        )
    if logits.shape[1] == 2:
        return logits - logits.flip(1)
    return logits - logits[:, :1]


def log_odds(logits: Tensor, target: Tensor) -> Tensor:
    """The explained contrast ``[B]`` of each sample for its ``target`` class index ``[B]``."""
    check_targets(target, logits.shape[1])
    return contrasts(logits).gather(1, target.reshape(-1, 1)).squeeze(1)


def check_targets(target: Tensor, n_classes: int) -> None:
    """Raise :class:`AttributionError` for class indices outside ``0..n_classes-1`` or the zero contrast."""
    if target.numel() == 0:
        return
    low, high = int(target.min()), int(target.max())
    if low < 0 or high >= n_classes:
        raise AttributionError(f"target class {low if low < 0 else high} is outside 0..{n_classes - 1}")
    if n_classes > 2 and low == 0:
        raise AttributionError(
            f"target=0 is the reference class of a {n_classes}-class model, so its log-odds contrast "
            f"z_0 - z_0 is zero; choose a target in 1..{n_classes - 1}"
        )


class LogOdds(nn.Module):
    """``backbone`` whose output column ``t`` is the explained contrast for ``target=t``.

    Only a subtraction is added after the logits, which is linear, so every attribution
    rule (Captum's DeepLift included) passes through it unchanged.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: Tensor) -> Tensor:
        return contrasts(self.backbone(x))
