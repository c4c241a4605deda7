"""GeneTokenTransformer: shapes, attention extraction without N x N tensors, checkpointing."""

import pytest
import torch
from torch import nn

from genexai.errors import ConfigError
from genexai.estimators.nn.transformer import AttentionRecord, GeneTokenTransformer

N_GENES = 37


def make(value_encoding: str = "continuous", **kw) -> GeneTokenTransformer:
    torch.manual_seed(0)
    defaults = dict(d_model=16, n_layers=2, n_heads=4, dropout=0.0, value_encoding=value_encoding)
    return GeneTokenTransformer(N_GENES, 3, **(defaults | kw)).eval()


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(5, N_GENES, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("value_encoding", ["continuous", "binned", "per_gene"])
def test_forward_shape_and_backward(value_encoding: str, x: torch.Tensor) -> None:
    model = make(value_encoding).train()
    logits = model(x)
    assert logits.shape == (5, 3)
    nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0, 1])).backward()
    # Every parameter must learn: a detached path or an unused module leaves a zero (or no) gradient.
    no_gradient = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_gradient, no_gradient


def test_invalid_settings_raise_config_error(x: torch.Tensor) -> None:
    with pytest.raises(ConfigError, match="value_encoding"):
        make("rank")
    with pytest.raises(ConfigError, match="divisible"):
        make(n_heads=3)
    with pytest.raises(ConfigError, match="n_genes"):
        make()(x[:, :-1])


def test_full_attention_rows_sum_to_one_and_chunks_match(x: torch.Tensor) -> None:
    model = make()
    with torch.no_grad(), model.record_attention() as records:
        model(x)
    assert len(records) == 2
    for rec in records:
        full = rec.probs()
        assert full.shape == (5, 4, N_GENES + 1, N_GENES + 1)
        torch.testing.assert_close(full.sum(-1), torch.ones(5, 4, N_GENES + 1))
        chunked = torch.cat([rec.probs(rows) for rows in rec.row_chunks(7)], dim=2)
        torch.testing.assert_close(chunked, full)
        # The recorded fused-kernel output is exactly A v with the rebuilt A.
        torch.testing.assert_close(rec.out, full @ rec.v, atol=1e-5, rtol=1e-4)
    for layer in (0, -1):
        torch.testing.assert_close(model.cls_attention(x, layer), records[layer].probs()[:, :, 0])


def test_recording_does_not_change_the_output(x: torch.Tensor) -> None:
    model = make()
    with torch.no_grad():
        plain = model(x)
        with model.record_attention():
            recorded = model(x)
    torch.testing.assert_close(plain, recorded)
    assert all(block.attn.recorder is None for block in model.blocks)


def test_grad_probs_equals_autograd_through_attention_weights() -> None:
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 3, 11, 4, generator=g) for _ in range(3))
    weights = torch.randn(2, 3, 11, 4, generator=g)
    attn = (q @ k.transpose(-2, -1) * 0.5).softmax(-1).requires_grad_(True)
    out = attn @ v
    (grad_attn,) = torch.autograd.grad((out * weights).sum(), attn)
    rec = AttentionRecord(q, k, v, out)
    torch.testing.assert_close(rec.grad_probs(weights), grad_attn)
    torch.testing.assert_close(rec.grad_probs(weights, slice(3, 8)), grad_attn[:, :, 3:8])


def test_gradient_checkpointing_gives_same_gradients(x: torch.Tensor) -> None:
    grads = []
    for checkpointing in (False, True):
        model = make(gradient_checkpointing=checkpointing).train()
        model(x).square().sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for plain, ckpt in zip(*grads, strict=True):
        torch.testing.assert_close(plain, ckpt)


def test_every_nonlinearity_is_its_own_module() -> None:
    leaves = [m for _, m in make().named_modules(remove_duplicate=False) if not list(m.children())]
    assert len(leaves) == len({id(m) for m in leaves})
    assert sum(isinstance(m, nn.GELU) for m in leaves) == 3  # value encoder + one per block


def test_binned_encoder_uses_end_bins_for_extreme_values() -> None:
    encoder = make("binned", n_bins=11).value_encoder
    bins = torch.bucketize(torch.tensor([-10.0, 0.0, 10.0]), encoder.edges)
    assert bins.tolist() == [0, 5, 10]


def test_per_gene_tokens_move_along_their_own_gene_direction(x: torch.Tensor) -> None:
    """FT-Transformer tokenizer: token j = gene-ID embedding + x_j * w_j, so only token j sees x_j."""
    model = make("per_gene")
    tokens = model.embed(x)[:, 1:]
    torch.testing.assert_close(model.embed(torch.zeros_like(x))[:, 1:], model.gene_embedding.weight.expand(5, -1, -1))
    shifted = x.clone()
    shifted[:, 3] += 1.0
    moved = (model.embed(shifted)[:, 1:] - tokens).abs().sum(-1)
    assert (moved[:, 3] > 0).all() and (moved[:, [0, 1, 2, *range(4, N_GENES)]] == 0).all()
    torch.testing.assert_close(model.embed(shifted)[:, 4] - tokens[:, 3], model.value_encoder.weight[3].expand(5, -1))


def test_gene_dropout_masks_values_to_the_training_mean_in_training_only(x: torch.Tensor) -> None:
    """Training: a gene's value is either kept or set to 0 (its token = gene-ID embedding); eval: untouched."""
    model = make("per_gene", gene_dropout=0.5)
    full = model.gene_embedding.weight + model.value_encoder(x)
    assert torch.equal(model.embed(x)[:, 1:], full)  # eval mode: nothing masked
    model.train()
    torch.manual_seed(3)
    tokens = model.embed(x)[:, 1:]
    masked = (tokens - model.gene_embedding.weight).abs().sum(-1) == 0
    kept = (tokens - full).abs().sum(-1) == 0
    assert (masked | kept).all()
    assert 0.3 < masked.float().mean() < 0.7  # about half of 5 x 37 values
    with pytest.raises(ConfigError, match="gene_dropout"):
        make(gene_dropout=1.0)
