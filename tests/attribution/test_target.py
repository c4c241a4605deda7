"""Every neural attribution explains the log-odds z_B - z_A, not logit B (METHODS.md, "Target").

A linear backbone makes the expected scores exact: logit 0 depends only on gene 0 and
logit 1 only on gene 1, so explaining logit 1 alone (the old behaviour) gives gene 0 a
zero score although raising it pushes toward B.
"""

import pytest
import torch
from torch import nn

from genexai.attribution import get_attribution
from genexai.errors import AttributionError

# z_0 = -1.5 x_0 and z_1 = 2 x_1 + 0.3, so z_1 - z_0 = 1.5 x_0 + 2 x_1 + 0.3: both genes push toward B.
W = torch.tensor([[-1.5, 0.0, 0.0], [0.0, 2.0, 0.0]])
B = torch.tensor([0.0, 0.3])
LOG_ODDS_WEIGHTS = torch.tensor([1.5, 2.0, 0.0])


def linear_model(n_classes: int = 2) -> nn.Module:
    model = nn.Sequential(nn.Linear(3, n_classes))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.zero_()
        model[0].weight[:2], model[0].bias[:2] = W, B
    return model


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(6, 3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "name, expected",
    [
        ("saliency", lambda x: LOG_ODDS_WEIGHTS.expand_as(x)),
        ("input_x_gradient", lambda x: x * LOG_ODDS_WEIGHTS),
        ("integrated_gradients", lambda x: x * LOG_ODDS_WEIGHTS),  # from the zero baseline
        ("deep_lift", lambda x: x * LOG_ODDS_WEIGHTS),
    ],
)
def test_gradient_methods_explain_the_log_odds(name, expected, x: torch.Tensor) -> None:
    method = get_attribution(name, linear_model(), **({"n_steps": 8} if name == "integrated_gradients" else {}))
    attr = method.attribute(x, target=1)
    torch.testing.assert_close(attr, expected(x))
    assert (attr[:, 0] != 0).all(), "gene 0 only moves logit 0; logit-1 attribution would give it zero"
    # target 0 explains z_0 - z_1, the same contrast seen from A.
    torch.testing.assert_close(get_attribution(name, linear_model()).attribute(x, target=0), -expected(x))
    if method.last_delta is not None:  # IG/DeepLift completeness is checked against z_B - z_A
        assert method.last_delta.abs().max() < 1e-5


def test_gradient_shap_explains_the_log_odds(x: torch.Tensor) -> None:
    """Expected gradients of a linear log-odds from one reference sample b: exactly (x - b) * weights."""
    baseline = torch.randn(1, 3, generator=torch.Generator().manual_seed(1))
    attr = get_attribution("gradient_shap", linear_model(), baselines=baseline, n_samples=8).attribute(x)
    torch.testing.assert_close(attr, (x - baseline) * LOG_ODDS_WEIGHTS)
    assert attr[:, 0].abs().min() > 0


def test_more_classes_contrast_with_the_reference_class(x: torch.Tensor) -> None:
    model = linear_model(3)  # z_2 = 0, so z_2 - z_0 = 1.5 x_0
    attr = get_attribution("saliency", model).attribute(x, target=2)
    torch.testing.assert_close(attr, torch.tensor([1.5, 0.0, 0.0]).expand_as(x))
    with pytest.raises(AttributionError, match="reference class"):
        get_attribution("saliency", model).attribute(x, target=0)
    with pytest.raises(AttributionError, match="outside 0..2"):
        get_attribution("saliency", model).attribute(x, target=3)
