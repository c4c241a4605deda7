"""Gene-token transformer: every gene is a token, a learned CLS token classifies.

Token ``j`` is ``gene_embedding[j] + value_encoder(x[:, j])``; a CLS token is prepended,
pre-LayerNorm encoder blocks mix tokens, and a linear head reads the final CLS state.

The encoder blocks are written here (not ``torch.nn.TransformerEncoder``) so attention
can be *inspected* without being *materialised*: training calls
``scaled_dot_product_attention`` (fused kernels, no ``N x N`` weights), while
:meth:`GeneTokenTransformer.record_attention` keeps the per-layer queries, keys and
values from which any block of attention rows is recomputed on demand. Attribution
(CLS attention, rollout, gradient-weighted attention) therefore needs ``O(chunk * N)``
memory instead of ``O(N^2)``, which matters at 10^4 gene tokens.

:meth:`GeneTokenTransformer.lrp_mode` switches the encoder's GELUs, LayerNorms and
attention to the AttnLRP gradient rules (:mod:`genexai.estimators.nn.lrp`); off by default,
and forward values are identical either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Literal

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from genexai.errors import ConfigError
from genexai.estimators.nn.lrp import LRPGELU, LRPLayerNorm, lrp_attention

ValueEncoding = Literal["continuous", "binned", "per_gene"]


@dataclass
class AttentionRecord:
    """What one attention layer saw in a forward pass, enough to rebuild its attention.

    Attributes
    ----------
    q, k, v
        Queries, keys, values ``[B, heads, N, d_head]`` (detached; ``N = n_genes + 1``,
        token 0 is CLS).
    out
        Per-head attention output ``softmax(q k^T / sqrt(d_head)) v`` ``[B, heads, N,
        d_head]``, still in the autograd graph, so ``d logit / d out`` is available for
        gradient-weighted attention.
    """

    q: Tensor
    k: Tensor
    v: Tensor
    out: Tensor

    @property
    def n_tokens(self) -> int:
        return self.q.shape[-2]

    def probs(self, rows: slice = slice(None)) -> Tensor:
        """Attention weights of the query ``rows``: ``[B, heads, len(rows), N]``, rows sum to 1."""
        scores = self.q[:, :, rows] @ self.k.transpose(-2, -1) * self.q.shape[-1] ** -0.5
        return scores.softmax(dim=-1)

    def grad_probs(self, grad_out: Tensor, rows: slice = slice(None)) -> Tensor:
        """Gradient w.r.t. the attention weights of ``rows``, from the gradient w.r.t. ``out``.

        Since ``out = A v`` (eval mode, no attention dropout), ``dy/dA = (dy/d out) v^T``;
        this avoids keeping ``A`` in the autograd graph, so the ``N x N`` gradient is never
        stored, only computed one block of rows at a time.
        """
        return grad_out[:, :, rows] @ self.v.transpose(-2, -1)

    def row_chunks(self, chunk_size: int) -> Iterator[slice]:
        """Consecutive query slices of at most ``chunk_size`` rows covering all tokens."""
        for start in range(0, self.n_tokens, chunk_size):
            yield slice(start, min(start + chunk_size, self.n_tokens))


class SelfAttention(nn.Module):
    """Multi-head self-attention on fused kernels, with optional recording for attribution."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"d_model={d_model} is not divisible by n_heads={n_heads}; pick n_heads dividing d_model")
        self.n_heads = n_heads
        self.dropout = dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        # Set only inside GeneTokenTransformer.record_attention; None keeps the fast path.
        self.recorder: Callable[[AttentionRecord], None] | None = None
        # Set only inside GeneTokenTransformer.lrp_mode: AttnLRP's uniform rule on q, k, v.
        self.lrp = False

    def forward(self, h: Tensor) -> Tensor:
        b, n, d = h.shape
        q, k, v = self.qkv(h).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        out = lrp_attention(q, k, v, self.lrp, dropout_p=self.dropout if self.training else 0.0)
        if self.recorder is not None:
            self.recorder(AttentionRecord(q.detach(), k.detach(), v.detach(), out))
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class EncoderBlock(nn.Module):
    """Pre-LayerNorm transformer block (same arithmetic as ``TransformerEncoderLayer(norm_first=True)``).

    Its norms and GELU are the LRP-switchable subclasses of the torch modules (same
    parameters and state dict).
    """

    def __init__(
        self, d_model: int, n_heads: int, dim_feedforward: int, dropout: float, attention_dropout: float
    ) -> None:
        super().__init__()
        self.norm1 = LRPLayerNorm(d_model)
        self.attn = SelfAttention(d_model, n_heads, attention_dropout)
        self.drop1 = nn.Dropout(dropout)
        self.norm2 = LRPLayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, dim_feedforward),
            LRPGELU(),
            nn.Dropout(dropout),
            nn.Linear(dim_feedforward, d_model),
        )
        self.drop2 = nn.Dropout(dropout)

    def forward(self, h: Tensor) -> Tensor:
        h = h + self.drop1(self.attn(self.norm1(h)))
        return h + self.drop2(self.ff(self.norm2(h)))


class ContinuousValueEncoder(nn.Module):
    """Embed each scalar expression value with a small MLP, ``[B, G] -> [B, G, d]``.

    Differentiable in the value, so gradient attributions can target the input directly.
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        # The final LayerNorm puts value and gene-ID embeddings (unit-variance init) on one scale.
        self.net = nn.Sequential(nn.Linear(1, d_model), nn.GELU(), nn.Linear(d_model, d_model), nn.LayerNorm(d_model))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.unsqueeze(-1))


class PerGeneValueEncoder(nn.Module):
    """FT-Transformer's numerical tokenizer (Gorishniy et al. 2021): gene ``j``'s value embeds as ``x_j * w_j``.

    With the gene-ID embedding as the bias ``b_j`` the token is ``x_j * w_j + b_j``: every gene
    has its own direction for "more expressed", so a CLS that attends evenly already reads a
    linear model of the genes — what small cohorts support. The shared value MLP instead has
    to learn gene x value interactions through attention from tens of samples.
    """

    def __init__(self, n_genes: int, d_model: int) -> None:
        super().__init__()
        # Unit scale, as the gene-ID embedding's default init: a z-scored value moves a token
        # as far as the identity part is from zero.
        self.weight = nn.Parameter(torch.randn(n_genes, d_model))

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1) * self.weight


class BinnedValueEncoder(nn.Module):
    """Bucketise values into ``n_bins`` fixed bins over ``[-value_range, value_range]`` and embed (scGPT-style).

    Fixed (not data-dependent) edges work because inputs are already z-scored per gene;
    values outside the range fall into the two end bins. Not differentiable in the
    value: gradient attributions must target this layer's output instead.
    """

    def __init__(self, d_model: int, n_bins: int, value_range: float) -> None:
        super().__init__()
        if n_bins < 2:
            raise ConfigError(f"n_bins={n_bins} must be at least 2 for binned value encoding")
        self.register_buffer("edges", torch.linspace(-value_range, value_range, n_bins - 1), persistent=False)
        self.embedding = nn.Embedding(n_bins, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.embedding(torch.bucketize(x.contiguous(), self.edges))


class GeneTokenTransformer(nn.Module):
    """Transformer over gene tokens with a CLS classifier.

    Parameters
    ----------
    n_genes, n_classes
        Input width (gene ``j`` is column ``j``) and number of logits.
    d_model, n_layers, n_heads
        Token width, number of encoder blocks, attention heads per block.
    dim_feedforward
        Hidden width of the block MLP; ``None`` means ``4 * d_model``.
    dropout
        Dropout on the residual branches and inside the block MLP.
    attention_dropout
        Dropout on the attention weights. Default 0: any non-zero value makes the CPU
        (and some GPU) ``scaled_dot_product_attention`` fall back to the math kernel,
        which materialises ``B x heads x N x N`` weights in training.
    value_encoding
        ``"continuous"`` (one MLP of the scalar value shared by all genes), ``"per_gene"``
        (FT-Transformer tokenizer ``x_j * w_j`` plus the gene-ID embedding as bias; the
        small-cohort recipe) — gradient methods attribute the input — or ``"binned"``
        (``n_bins`` fixed bins over ``[-value_range, value_range]``; gradient methods
        attribute the value-embedding layer).
    n_bins, value_range
        Binning for ``value_encoding="binned"``.
    gene_dropout
        Training only: the fraction of genes, drawn afresh per sample and step, whose value
        is set to 0 (the training mean after the train-fitted standardisation; the token
        keeps its gene-ID embedding). On a small cohort a handful of planted genes already
        separates the classes, and the model stops there; hiding a random part of them
        makes it use every informative gene -- the same perturbation the deletion test
        of faithfulness applies. 0 (default) = off; eval mode never masks.
    gradient_checkpointing
        Recompute block activations in the backward pass while training, trading ~30%
        more compute for activation memory independent of depth.
    """

    def __init__(
        self,
        n_genes: int,
        n_classes: int,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        dim_feedforward: int | None = None,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        value_encoding: ValueEncoding = "continuous",
        n_bins: int = 51,
        value_range: float = 4.0,
        gene_dropout: float = 0.0,
        gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= gene_dropout < 1.0:
            raise ConfigError(f"gene_dropout={gene_dropout} must be in [0, 1)")
        if value_encoding == "continuous":
            self.value_encoder: nn.Module = ContinuousValueEncoder(d_model)
        elif value_encoding == "per_gene":
            self.value_encoder = PerGeneValueEncoder(n_genes, d_model)
        elif value_encoding == "binned":
            self.value_encoder = BinnedValueEncoder(d_model, n_bins, value_range)
        else:
            raise ConfigError(f"value_encoding={value_encoding!r} is unknown; use 'continuous', 'per_gene' or 'binned'")
        self.n_genes, self.n_classes, self.value_encoding = n_genes, n_classes, value_encoding
        self.gradient_checkpointing, self.gene_dropout = gradient_checkpointing, gene_dropout
        self.gene_embedding = nn.Embedding(n_genes, d_model)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d_model))
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, n_heads, dim_feedforward or 4 * d_model, dropout, attention_dropout)
            for _ in range(n_layers)
        )
        self.norm = LRPLayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)
        nn.init.normal_(self.cls_token)  # same unit scale as the gene-ID embedding's default init

    def embed(self, x: Tensor) -> Tensor:
        """Token sequence ``[B, n_genes + 1, d_model]`` with CLS at position 0."""
        if x.ndim != 2 or x.shape[1] != self.n_genes:
            raise ConfigError(
                f"GeneTokenTransformer expects input of shape (batch, {self.n_genes}), got {tuple(x.shape)}; "
                "build the model with n_genes equal to the number of selected genes"
            )
        if self.training and self.gene_dropout > 0:
            x = x.masked_fill(torch.rand_like(x) < self.gene_dropout, 0.0)
        tokens = self.gene_embedding.weight + self.value_encoder(x)
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``[B, n_classes]`` for standardised expression ``x`` ``[B, n_genes]``."""
        return self.forward_tokens(self.embed(x))

    def forward_tokens(self, h: Tensor) -> Tensor:
        """Class logits from the token sequence :meth:`embed` returns (AttnLRP differentiates here)."""
        for block in self.blocks:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                h = checkpoint(block, h, use_reentrant=False)
            else:
                h = block(h)
        return self.head(self.norm(h[:, 0]))

    @contextmanager
    def lrp_mode(self) -> Iterator[None]:
        """Apply the AttnLRP rules to gradients through the encoder and head while inside.

        Forward values are unchanged; gradients become LRP relevances per unit input, so
        ``tokens * d logit / d tokens`` is AttnLRP at the token embedding. The value
        encoder (before the tokens) keeps plain gradients. Use in eval mode (dropout has
        no LRP rule); the previous flags are restored on exit.
        """
        modules = [m for m in [*self.blocks.modules(), self.norm] if hasattr(m, "lrp")]
        previous = [m.lrp for m in modules]
        for module in modules:
            module.lrp = True
        try:
            yield
        finally:
            for module, flag in zip(modules, previous, strict=True):
                module.lrp = flag

    @contextmanager
    def record_attention(self) -> Iterator[list[AttentionRecord]]:
        """Collect one :class:`AttentionRecord` per layer (in order) for the forward pass run inside.

        Run a single forward pass in the context; call ``model.eval()`` first so the
        recorded attention is the deterministic one.
        """
        records: list[AttentionRecord] = []
        for block in self.blocks:
            block.attn.recorder = records.append
        try:
            yield records
        finally:
            for block in self.blocks:
                block.attn.recorder = None

    @torch.no_grad()
    def cls_attention(self, x: Tensor, layer: int = -1) -> Tensor:
        """CLS-query attention of ``layer``: ``[B, heads, n_genes + 1]`` (column 0 is CLS itself).

        Only the CLS row is computed, ``O(N * d)`` memory; the full matrix never exists.
        """
        with self.record_attention() as records:
            self(x)
        return records[layer].probs(slice(0, 1))[:, :, 0]
