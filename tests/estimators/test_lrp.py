"""AttnLRP rules as gradient modifications: exact forward values, the intended gradients, off by default."""

import pytest
import torch

from genexai.estimators.nn.lrp import LRPGELU, LRPLayerNorm, scale_gradient, with_gradient_of
from genexai.estimators.nn.transformer import GeneTokenTransformer


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(4, 8, generator=torch.Generator().manual_seed(0)) * 2


def grad_of(module: torch.nn.Module, x: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    out = module(x)
    (grad,) = torch.autograd.grad((out * weights).sum(), x)
    return out.detach(), grad


def test_with_gradient_of_keeps_the_value_and_takes_the_surrogate_gradient(x: torch.Tensor) -> None:
    x = x.requires_grad_(True)
    out = with_gradient_of(x.exp(), 3 * x)
    assert torch.equal(out, x.exp())
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(grad, torch.full_like(x, 3.0))
    (half,) = torch.autograd.grad(scale_gradient(x, 0.5).sum(), x)
    assert torch.equal(half, torch.full_like(x, 0.5))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_identity_rule_passes_relevance_unchanged(approximate: str, x: torch.Tensor) -> None:
    """Identity rule: input * gradient = gelu(x) * upstream gradient, element by element."""
    gelu, weights = LRPGELU(approximate=approximate), torch.randn_like(x)
    plain_out, plain_grad = grad_of(gelu, x, weights)
    gelu.lrp = True
    lrp_out, lrp_grad = grad_of(gelu, x, weights)
    assert torch.equal(lrp_out, plain_out)
    torch.testing.assert_close(x * lrp_grad, plain_out * weights)
    assert not torch.allclose(lrp_grad, plain_grad)


def test_layer_norm_rule_stops_the_gradient_through_the_std(x: torch.Tensor) -> None:
    """With the std constant, a bias-free LayerNorm is linear in its input: relevance is conserved."""
    norm = LRPLayerNorm(8, bias=False)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
    weights = torch.randn_like(x)
    plain_out, plain_grad = grad_of(norm, x, weights)
    norm.lrp = True
    lrp_out, lrp_grad = grad_of(norm, x, weights)
    assert torch.equal(lrp_out, plain_out)
    torch.testing.assert_close((x * lrp_grad).sum(-1), (plain_out * weights).sum(-1))
    # Plain gradients of a scale-invariant LayerNorm are orthogonal to x (up to eps): gradient x input
    # would lose all relevance there, which is why the rule is needed.
    torch.testing.assert_close((x * plain_grad).sum(-1), torch.zeros(4), atol=1e-4, rtol=0)
    assert (plain_out * weights).sum(-1).abs().min() > 1e-2


def make_transformer() -> GeneTokenTransformer:
    torch.manual_seed(0)
    return GeneTokenTransformer(12, 2, d_model=16, n_layers=2, n_heads=4, dropout=0.0).eval()


def test_lrp_mode_is_off_by_default_and_changes_gradients_only() -> None:
    model = make_transformer()
    flags = [m.lrp for m in model.modules() if hasattr(m, "lrp")]
    assert len(flags) == 2 * 4 + 1 and not any(flags)  # per block: 2 norms, GELU, attention; final norm
    x = torch.randn(3, 12, generator=torch.Generator().manual_seed(1))
    grads, outputs = [], []
    for lrp in (False, True):
        tokens = model.embed(x).detach().requires_grad_(True)
        if lrp:
            with model.lrp_mode():
                logits = model.forward_tokens(tokens)
        else:
            logits = model.forward_tokens(tokens)
        outputs.append(logits.detach())
        grads.append(torch.autograd.grad(logits[:, 1].sum(), tokens)[0])
    assert torch.equal(outputs[0], outputs[1]), "the rules must not change forward values"
    torch.testing.assert_close(outputs[0], model(x).detach())
    assert not torch.allclose(grads[0], grads[1])
    assert not any(m.lrp for m in model.modules() if hasattr(m, "lrp")), "flags restored on exit"
    with pytest.raises(RuntimeError), model.lrp_mode():
        raise RuntimeError("interrupted")
    assert not any(m.lrp for m in model.modules() if hasattr(m, "lrp"))
