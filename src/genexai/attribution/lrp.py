"""AttnLRP (Achtibat et al., ICML 2024) for :class:`GeneTokenTransformer` in one backward pass.

Inside ``model.lrp_mode()`` the encoder's gradients follow the AttnLRP rules
(:mod:`genexai.estimators.nn.lrp`), so ``tokens * d f / d tokens`` is the LRP relevance of each
token for ``f`` = the explained log-odds (``z_B - z_A`` by default), summed over the
embedding dimension; a gene's score is the expression share of it (below).

Where relevance is taken: at the token embedding ``gene_embedding[j] + value(x_j)``, the
input of the first block, because that is where relevance over tokens is conserved. A
token's relevance splits exactly (by linearity) into an ID share ``e_j * g_j`` -- the
gene-ID embedding, the same vector in every sample -- and an expression share
``v_j * g_j``; the mean fraction of the latter is reported as ``value_share``.
``relevance="value"`` (the default) scores a gene by its expression share: the ID share
says that the token is there, not what its value is, and with the per-gene tokenizer
``v_j = x_j * w_j`` is zero at the training mean -- the reference of the deletion test
and of ``direction`` -- so the score is relevance relative to the training mean.
``relevance="token"`` scores the whole token (the quantity that is conserved). The value
encoder is not traversed, so every value encoding (per_gene, continuous, binned) is handled alike.
The CLS token's relevance is reported in :meth:`info` (``cls_relevance_mean``), not as a
gene.

Conservation: token relevance (genes + CLS) sums to ``f`` minus what the biases (linear layers, LayerNorm
shifts) and the softmax rule absorb; that gap is ``last_delta`` (sum minus ``f``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from genexai.attribution.base import AttributionMethod, Target
from genexai.attribution.registry import register
from genexai.attribution.target import log_odds
from genexai.errors import AttributionError
from genexai.estimators.nn.transformer import GeneTokenTransformer


@register("attnlrp")
class AttnLRP(AttributionMethod):
    """AttnLRP relevance of every gene token for the target's log-odds; signed, transformer only.

    ``relevance``: ``"value"`` (default) = each gene's expression share of its token's
    relevance, ``"token"`` = the whole token's (module docstring). Token scores are relative
    to the zero embedding, and only the per-gene tokenizer puts the value share's zero at
    the training mean, so no direction (up or down in B) is read from either
    (``direction = None``); their signed class means are still tabulated. Memory is that of
    one ordinary backward pass on the fused attention kernel: no ``N x N`` attention is stored.

    Attributes
    ----------
    last_delta
        Per sample, ``sum of relevance over genes and CLS - explained log-odds``: the
        share absorbed by biases and the softmax rule (zero for a perfectly conservative
        model).
    last_cls, last_value_share
        Per sample, the CLS token's relevance and ``sum |v * g| / (sum |e * g| + sum |v * g|)``
        over genes (the part carried by the expression-value embedding).
    """

    model: GeneTokenTransformer

    def __init__(self, model: nn.Module, relevance: str = "value", batch_size: int = 64, seed: int = 0) -> None:
        if relevance not in ("value", "token"):
            raise AttributionError(f"attnlrp relevance={relevance!r} is unknown; use 'value' (expression share) or 'token'")
        super().__init__(model, batch_size=batch_size, seed=seed)
        self.relevance = relevance
        self._cls: list[Tensor] = []
        self._value_share: list[Tensor] = []

    def check_model(self, model: nn.Module) -> None:
        if not isinstance(model, GeneTokenTransformer):
            raise AttributionError(
                f"attnlrp propagates relevance through attention layers, but {type(model).__name__} has no "
                "attention layers; use a gradient method (e.g. integrated_gradients) or the transformer model"
            )

    def attribute(self, inputs: Tensor | np.ndarray, target: Target = 1) -> Tensor:
        self._cls, self._value_share = [], []
        return super().attribute(inputs, target)

    def attribute_batch(self, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            tokens = self.model.embed(x)
        tokens.requires_grad_(True)
        with self.model.lrp_mode():
            explained = log_odds(self.model.forward_tokens(tokens), target)
            (grad,) = torch.autograd.grad(explained.sum(), tokens)  # samples are independent
        tokens = tokens.detach()
        relevance = (tokens * grad).sum(dim=-1)  # [b, N]: CLS, then one per gene
        # Exact split of a gene's relevance into its ID embedding and its value embedding.
        gene_id = self.model.gene_embedding.weight.detach()
        id_relevance = (gene_id * grad[:, 1:]).sum(dim=-1)
        value_relevance = relevance[:, 1:] - id_relevance
        id_part, value_part = id_relevance.abs().sum(dim=1), value_relevance.abs().sum(dim=1)
        share = value_part / (value_part + id_part).clamp_min(torch.finfo(grad.dtype).tiny)
        self._cls.append(relevance[:, 0].cpu())
        self._value_share.append(share.cpu())
        genes = value_relevance if self.relevance == "value" else relevance[:, 1:]
        return genes, relevance.sum(dim=1) - explained.detach()

    @property
    def last_cls(self) -> Tensor | None:
        return torch.cat(self._cls) if self._cls else None

    @property
    def last_value_share(self) -> Tensor | None:
        return torch.cat(self._value_share) if self._value_share else None

    def info(self) -> dict[str, Any]:
        """Convergence gap (``delta_abs_*``), mean CLS relevance and mean expression share of the last call."""
        if self.last_cls is None:
            return super().info()
        return super().info() | {
            "cls_relevance_mean": self.last_cls.mean().item(),
            "value_share": self.last_value_share.mean().item(),
        }
