"""AttnLRP: conservation with every absorbed share accounted for, against an explicit-rule reference.

The model applies the uniform rule as gradient factors on q, k (1/4) and v (1/2) around the
fused attention kernel. The reference here instead writes the rules where the paper states
them — on the products ``q k^T`` and ``A v`` with explicit ``N x N`` attention — so it also
exposes the softmax's input and output, whose ``x * gradient`` difference is the relevance
the softmax rule absorbs. Relevance is conserved exactly once that and the biases' share
(``bias * gradient``) are added back.
"""

import pytest
import torch
from torch import Tensor, nn

from genexai.attribution import get_attribution
from genexai.errors import AttributionError
from genexai.estimators.nn.lrp import with_gradient_of
from genexai.estimators.nn.transformer import GeneTokenTransformer

N_GENES = 24
CONTRAST = torch.tensor([-1.0, 1.0])  # z_B - z_A


def make(value_encoding: str = "continuous", bias: bool = True, seed: int = 0) -> GeneTokenTransformer:
    torch.manual_seed(seed)
    model = GeneTokenTransformer(
        N_GENES, 2, d_model=16, n_layers=2, n_heads=4, dim_feedforward=32, dropout=0.0, value_encoding=value_encoding
    ).eval()
    if not bias:
        with torch.no_grad():
            for param in encoder_biases(model):
                param.zero_()
    return model


def encoder_biases(model: GeneTokenTransformer) -> list[Tensor]:
    """Additive parameters after the tokens (linear biases, LayerNorm shifts): each absorbs bias * grad."""
    modules = [*model.blocks.modules(), model.norm, model.head]
    return [m.bias for m in modules if isinstance(m, nn.Linear | nn.LayerNorm) and m.bias is not None]


def uniform_product(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` whose gradient reaches each factor halved (uniform rule on a bilinear product)."""
    return with_gradient_of(a @ b, 0.5 * (a @ b.detach() + a.detach() @ b))


def reference_logits(model: GeneTokenTransformer, tokens: Tensor, softmax_io: list[tuple[Tensor, Tensor]]) -> Tensor:
    """Forward with explicit attention and the rules on the products; LayerNorm/GELU rules from lrp_mode."""
    h = tokens
    for block in model.blocks:
        attn, z = block.attn, block.norm1(h)
        b, n, d = z.shape
        q, k, v = attn.qkv(z).view(b, n, 3, attn.n_heads, -1).permute(2, 0, 3, 1, 4)
        scores = uniform_product(q, k.transpose(-2, -1)) * q.shape[-1] ** -0.5
        probs = scores.softmax(-1)
        softmax_io.append((scores, probs))
        h = h + attn.proj(uniform_product(probs, v).transpose(1, 2).reshape(b, n, d))
        h = h + block.ff(block.norm2(h))
    return model.head(model.norm(h[:, 0]))


@pytest.mark.parametrize("bias", [True, False], ids=["biases", "bias-free"])
@pytest.mark.parametrize("value_encoding", ["continuous", "binned", "per_gene"])
def test_relevance_is_conserved_once_absorbed_shares_are_added(value_encoding: str, bias: bool) -> None:
    model = make(value_encoding, bias)
    x = torch.randn(5, N_GENES, generator=torch.Generator().manual_seed(1))
    method = get_attribution("attnlrp", model, relevance="token")
    genes = method.attribute(x)
    total = genes.sum(1) + method.last_cls
    value_share = get_attribution("attnlrp", model).attribute(x)  # the default: expression share only
    with torch.no_grad():
        explained = model(x) @ CONTRAST

    tokens = model.embed(x).detach().requires_grad_(True)
    softmax_io: list[tuple[Tensor, Tensor]] = []
    biases = encoder_biases(model)
    with model.lrp_mode():
        ref_explained = reference_logits(model, tokens, softmax_io) @ CONTRAST
        softmax_tensors = [t for pair in softmax_io for t in pair]
        grads = torch.autograd.grad(ref_explained.sum(), [tokens, *softmax_tensors], retain_graph=True)
    torch.testing.assert_close(ref_explained.detach(), explained)
    reference = (tokens * grads[0]).sum(-1).detach()
    # The shortcut (factors on q, k, v around the fused kernel) is the rule on the products.
    torch.testing.assert_close(genes, reference[:, 1:], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(method.last_cls, reference[:, 0], atol=1e-5, rtol=1e-4)
    gene_id = model.gene_embedding.weight.detach()
    torch.testing.assert_close(value_share, ((tokens[:, 1:] - gene_id) * grads[0][:, 1:]).sum(-1).detach(), atol=1e-5, rtol=1e-4)

    # Per-sample absorbed shares need per-sample bias gradients: one backward per sample.
    absorbed = torch.zeros(len(x))
    for i in range(len(x)):
        per_sample = torch.autograd.grad(ref_explained[i], biases, retain_graph=True)
        absorbed[i] = sum((b * g).sum() for b, g in zip(biases, per_sample, strict=True))
    # Softmax rule: relevance in (probs * grad) minus relevance out (scores * grad), per sample.
    io_grads = dict(zip(map(id, softmax_tensors), grads[1:], strict=True))
    softmax_absorbed = sum(
        (p * io_grads[id(p)] - s * io_grads[id(s)]).sum(dim=(1, 2, 3)) for s, p in softmax_io
    ).detach()
    # float32 through ~20 ops on O(1) values: 1e-4 absolute is a few hundred ulps.
    torch.testing.assert_close(total + absorbed + softmax_absorbed, explained, atol=1e-4, rtol=0)
    torch.testing.assert_close(method.last_delta, -(absorbed + softmax_absorbed), atol=1e-4, rtol=0)
    if not bias:
        assert absorbed.abs().max() < 1e-6  # only the softmax rule absorbs in a bias-free model


def test_relevance_explains_the_log_odds_sign_with_target() -> None:
    model, x = make(), torch.randn(4, N_GENES, generator=torch.Generator().manual_seed(2))
    towards_b = get_attribution("attnlrp", model).attribute(x, target=1)
    towards_a = get_attribution("attnlrp", model).attribute(x, target=0)
    torch.testing.assert_close(towards_a, -towards_b)
    method = get_attribution("attnlrp", model)
    method.attribute(x)
    info = method.info()
    assert {"delta_abs_mean", "delta_abs_max", "cls_relevance_mean", "value_share"} <= info.keys()
    assert 0 < info["value_share"] < 1


def test_value_share_is_zero_at_the_training_mean_with_the_per_gene_tokenizer() -> None:
    """x_j = 0 (the training mean after standardisation) carries no expression relevance; the token still may."""
    model = make("per_gene")
    x = torch.randn(4, N_GENES, generator=torch.Generator().manual_seed(4))
    x[:, :5] = 0.0
    value = get_attribution("attnlrp", model).attribute(x)
    token = get_attribution("attnlrp", model, relevance="token").attribute(x)
    assert value[:, :5].abs().max() == 0 and token[:, :5].abs().min() > 0
    assert value[:, 5:].abs().min() > 0
    with pytest.raises(AttributionError, match="relevance"):
        get_attribution("attnlrp", model, relevance="gene")


def test_attnlrp_leaves_the_model_as_it_found_it() -> None:
    model = make().train()
    x = torch.randn(3, N_GENES, generator=torch.Generator().manual_seed(3))
    get_attribution("attnlrp", model).attribute(x)
    assert model.training and not any(m.lrp for m in model.modules() if hasattr(m, "lrp"))
    assert all(p.grad is None for p in model.parameters())
