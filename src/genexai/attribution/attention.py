"""Attention-based gene relevance for :class:`GeneTokenTransformer` (definitions: METHODS.md).

All three read attention from recorded queries/keys (``AttentionRecord``) and rebuild it
one block of query rows at a time, so memory is ``O(batch * heads * chunk * N)``, never
``O(N^2)``. ``attention`` and ``attention_rollout`` are class-agnostic (``target`` is
ignored); ``grad_attention`` weights attention by the gradient of the ``target``'s
log-odds (``z_B - z_A`` by default, :mod:`genexai.attribution.target`).
All three are non-negative.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from genexai.attribution.base import AttributionMethod
from genexai.attribution.registry import register
from genexai.attribution.target import log_odds
from genexai.errors import AttributionError, ConfigError
from genexai.estimators.nn.transformer import AttentionRecord, GeneTokenTransformer

# Auto chunk size keeps one block of attention rows under 2**24 floats (64 MiB).
_BLOCK_ELEMENTS = 2**24

RowsFn = Callable[[int, slice], Tensor]


class _AttentionMethod(AttributionMethod):
    """Shared checks and chunking for methods that read transformer attention."""

    model: GeneTokenTransformer

    def __init__(self, model: nn.Module, chunk_size: int | None = None, batch_size: int = 64, seed: int = 0) -> None:
        super().__init__(model, batch_size=batch_size, seed=seed)
        if chunk_size is not None and chunk_size < 1:
            raise ConfigError(f"{self.name}: chunk_size={chunk_size} must be a positive integer or null (automatic)")
        self.chunk_size = chunk_size

    def check_model(self, model: nn.Module) -> None:
        if not isinstance(model, GeneTokenTransformer):
            raise AttributionError(
                f"{self.name} needs attention weights, but {type(model).__name__} has no attention layers; "
                "use a gradient method (e.g. integrated_gradients) or the transformer model"
            )

    def _chunk(self, record: AttentionRecord) -> int:
        if self.chunk_size is not None:
            return self.chunk_size
        b, h, n, _ = record.q.shape
        return max(1, _BLOCK_ELEMENTS // (b * h * n))

    def _rollout(self, records: list[AttentionRecord], rows_fn: RowsFn) -> Tensor:
        """CLS row of ``M_L ... M_1``: propagate ``r <- r M_l`` from the last layer down.

        ``rows_fn(l, rows)`` returns rows ``rows`` of layer ``l``'s matrix ``[B, c, N]``.
        Chunks where ``r`` is zero are skipped (in the last layer only CLS is non-zero).
        """
        b, n = records[0].q.shape[0], records[0].n_tokens
        r = records[0].q.new_zeros(b, n)
        r[:, 0] = 1.0
        for layer in reversed(range(len(records))):
            nxt = torch.zeros_like(r)
            for rows in records[layer].row_chunks(self._chunk(records[layer])):
                if r[:, rows].any():
                    nxt += torch.einsum("bc,bcn->bn", r[:, rows], rows_fn(layer, rows))
            r = nxt
        return r[:, 1:]


def _add_identity(block: Tensor, rows: slice, weight: float) -> Tensor:
    """Add ``weight * I`` to a block of rows ``[B, c, N]`` of an ``N x N`` matrix."""
    cols = torch.arange(rows.start, rows.stop, device=block.device)
    block[:, cols - rows.start, cols] += weight
    return block


@register("attention")
class CLSAttention(_AttentionMethod):
    """CLS-query attention of one layer (default the last), mean over heads.

    ``softmax(q_CLS K^T / sqrt(d))`` over all tokens; the CLS column is dropped, so a
    sample's gene scores sum to ``1 - attention(CLS -> CLS)``.
    """

    def __init__(self, model: nn.Module, layer: int = -1, **options) -> None:
        super().__init__(model, **options)
        n_layers = len(self.model.blocks)
        if not -n_layers <= layer < n_layers:
            raise ConfigError(f"{self.name}: layer={layer} is out of range for a model with {n_layers} layers")
        self.layer = layer

    def attribute_batch(self, x: Tensor, target: Tensor) -> tuple[Tensor, None]:
        return self.model.cls_attention(x, self.layer).mean(dim=1)[:, 1:], None


@register("attention_rollout")
class AttentionRollout(_AttentionMethod):
    """Attention rollout (Abnar & Zuidema 2020), CLS row only.

    ``A_hat_l = rownorm(0.5 * mean_h A_l + 0.5 * I)``, ``R = A_hat_L ... A_hat_1``; the
    identity models the residual stream. Gene scores are the CLS row of ``R`` without
    the CLS column.
    """

    @torch.no_grad()
    def attribute_batch(self, x: Tensor, target: Tensor) -> tuple[Tensor, None]:
        with self.model.record_attention() as records:
            self.model(x)

        def rows_fn(layer: int, rows: slice) -> Tensor:
            block = _add_identity(0.5 * records[layer].probs(rows).mean(dim=1), rows, 0.5)
            return block / block.sum(dim=-1, keepdim=True)

        return self._rollout(records, rows_fn), None


@register("grad_attention")
class GradAttention(_AttentionMethod):
    """Gradient-weighted attention rollout (Chefer, Gur & Wolf 2021), CLS row only.

    ``A_bar_l = mean_h ReLU(dy_c/dA_l * A_l)``, ``R = (I + A_bar_L) ... (I + A_bar_1)``
    (no row normalisation, as in Chefer et al.). ``dy_c/dA_l`` is rebuilt per row block
    from the gradient at the attention output (``AttentionRecord.grad_probs``).
    """

    def attribute_batch(self, x: Tensor, target: Tensor) -> tuple[Tensor, None]:
        with self.model.record_attention() as records:
            logits = self.model(x)
        score = log_odds(logits, target).sum()  # samples are independent: sum = per-sample grads
        grads = torch.autograd.grad(score, [rec.out for rec in records])

        def rows_fn(layer: int, rows: slice) -> Tensor:
            rec = records[layer]
            cam = (rec.grad_probs(grads[layer], rows) * rec.probs(rows)).clamp(min=0).mean(dim=1)
            return _add_identity(cam, rows, 1.0)

        with torch.no_grad():
            return self._rollout(records, rows_fn), None
