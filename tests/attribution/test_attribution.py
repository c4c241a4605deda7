"""Attribution methods: definitions (vs dense references), completeness, planted-gene recovery,
model randomisation, the shared code path for MLP and transformer, and the importance table.

Self-contained on purpose: Gaussian data with planted shifts and models trained by a plain
torch loop in a few seconds, independent of the simulator and the Lightning module.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr
from torch import Tensor, nn

from genexai.attribution import (
    available_methods,
    compute_attributions,
    get_attribution,
    importance_table,
    save_importance_table,
)
from genexai.errors import AttributionError, ConfigError
from genexai.estimators.nn.mlp import MLP
from genexai.estimators.nn.transformer import GeneTokenTransformer

GRADIENT = ["integrated_gradients", "input_x_gradient", "saliency", "gradient_shap"]
ATTENTION = ["attention", "attention_rollout", "grad_attention", "attnlrp"]  # need attention layers
FAST = {"integrated_gradients": {"n_steps": 16}, "gradient_shap": {"n_samples": 8}}


@dataclass
class Planted:
    x: Tensor  # standardised [n, G]
    y: Tensor  # 0 = A (reference), 1 = B
    genes: np.ndarray  # planted gene indices
    up: np.ndarray  # +1: higher in B, -1: lower in B


def make_planted(n_genes: int, n_planted: int, n_samples: int = 200, shift: float = 1.5) -> Planted:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], n_samples // 2)
    genes = rng.permutation(n_genes)[:n_planted]
    up = np.where(np.arange(n_planted) % 2 == 0, 1.0, -1.0)
    x = rng.standard_normal((n_samples, n_genes))
    x[np.ix_(y == 1, genes)] += shift * up
    x = (x - x.mean(0)) / x.std(0)  # training mean -> 0, as the real preprocessing does
    return Planted(torch.tensor(x, dtype=torch.float32), torch.tensor(y), genes, up)


class TinyMLP(nn.Module):
    """Backbone signature ``(n_genes, n_classes)``; one module instance per ReLU (DeepLift)."""

    def __init__(self, n_genes: int, n_classes: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_genes, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def tiny_transformer(n_genes: int, value_encoding: str = "continuous", seed: int = 0) -> GeneTokenTransformer:
    torch.manual_seed(seed)
    return GeneTokenTransformer(
        n_genes, 2, d_model=16, n_layers=2, n_heads=4, dim_feedforward=32, dropout=0.0, value_encoding=value_encoding
    ).eval()


def train(model: nn.Module, data: Planted, epochs: int, lr: float, batch_size: int) -> nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(data.y)).split(batch_size):
            opt.zero_grad()
            nn.functional.cross_entropy(model(data.x[idx]), data.y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        assert (model(data.x).argmax(1) == data.y).float().mean() > 0.9, "test model failed to train"
    return model


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Test machines share 2 cores: one intra-op thread avoids oversubscription stalls."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def wide() -> Planted:
    """400 genes, 20 planted: top-50 by chance holds 2.5 planted genes."""
    return make_planted(400, 20)


@pytest.fixture(scope="module")
def narrow() -> Planted:
    """100 genes, 10 planted: small enough to train a transformer in seconds on CPU."""
    return make_planted(100, 10)


@pytest.fixture(scope="module")
def mlp(wide: Planted) -> nn.Module:
    torch.manual_seed(0)
    return train(TinyMLP(400, 2), wide, epochs=60, lr=1e-2, batch_size=200)


@pytest.fixture(scope="module")
def transformer(narrow: Planted) -> GeneTokenTransformer:
    return train(tiny_transformer(100), narrow, epochs=16, lr=1e-2, batch_size=25)


def top_hits(attr: Tensor | np.ndarray, planted: np.ndarray, k: int) -> int:
    importance = np.abs(np.asarray(attr)).mean(axis=0)
    return len(set(np.argsort(-importance, kind="stable")[:k]) & set(planted.tolist()))


def attribute(name: str, model: nn.Module, x: Tensor, **options) -> Tensor:
    return get_attribution(name, model, **(FAST.get(name, {}) | options)).attribute(x)


# --- interface -------------------------------------------------------------------------


def test_registry_lists_every_method() -> None:
    assert set(available_methods()) == {*GRADIENT, *ATTENTION, "deep_lift"}
    with pytest.raises(ConfigError, match="unknown"):
        get_attribution("shapley_magic", TinyMLP(5, 2))
    with pytest.raises(ConfigError, match="n_stepz"):
        get_attribution("integrated_gradients", TinyMLP(5, 2), n_stepz=3)


@pytest.mark.parametrize("name", ATTENTION)
def test_attention_methods_refuse_models_without_attention(name: str) -> None:
    with pytest.raises(AttributionError, match="no attention layers"):
        get_attribution(name, TinyMLP(5, 2))


def test_inapplicable_gradient_methods_refuse_clearly() -> None:
    with pytest.raises(AttributionError, match="deep_lift cannot explain GeneTokenTransformer"):
        get_attribution("deep_lift", tiny_transformer(5))
    with pytest.raises(AttributionError, match="binned"):
        get_attribution("saliency", tiny_transformer(5, "binned"))
    relu = nn.ReLU()
    with pytest.raises(AttributionError, match="reused"):
        get_attribution("deep_lift", nn.Sequential(nn.Linear(5, 5), relu, nn.Linear(5, 2), relu))


def test_mlp_and_transformer_share_one_code_path(narrow: Planted) -> None:
    methods = [
        {"name": "integrated_gradients", "n_steps": 8},
        {"name": "input_x_gradient"},
        {"name": "saliency"},
        {"name": "gradient_shap", "n_samples": 4},
    ]
    for model in (MLP(100, 2), tiny_transformer(100)):
        attributions, info = compute_attributions(model, narrow.x[:12], methods, target=1, seed=0)
        assert set(attributions) == {m["name"] for m in methods}
        assert all(a.shape == (12, 100) and a.dtype == np.float32 for a in attributions.values())
        assert info["integrated_gradients"]["seconds"] > 0 and "delta_abs_max" in info["integrated_gradients"]


def test_compute_attributions_skips_inapplicable_methods(narrow: Planted) -> None:
    methods = [{"name": "saliency"}, {"name": "attention"}, {"name": "saliency", "label": "saliency_abs", "abs": True}]
    attributions, info = compute_attributions(MLP(100, 2), narrow.x[:4], methods, skip_inapplicable=True)
    assert set(attributions) == {"saliency", "saliency_abs"} and "skipped" in info["attention"]
    assert (attributions["saliency_abs"] >= 0).all()
    with pytest.raises(AttributionError):
        compute_attributions(MLP(100, 2), narrow.x[:4], methods)


def test_batching_eval_mode_and_inference_mode_do_not_change_results(narrow: Planted) -> None:
    model = TinyMLP(100, 2).train()
    x = narrow.x[:20]
    reference = attribute("integrated_gradients", model, x, batch_size=64)
    assert model.training, "the caller's train/eval mode is restored"
    with torch.inference_mode():  # e.g. called from a Lightning test loop
        batched = attribute("integrated_gradients", model, x, batch_size=7)
    torch.testing.assert_close(batched, reference)


def test_sampling_methods_are_seeded_without_touching_global_rng(narrow: Planted) -> None:
    model, x = TinyMLP(100, 2), narrow.x[:6]
    state = torch.get_rng_state()
    first, again = (attribute("gradient_shap", model, x, seed=3) for _ in range(2))
    other = attribute("gradient_shap", model, x, seed=4)
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)
    assert torch.equal(torch.get_rng_state(), state)


def test_per_sample_targets(narrow: Planted) -> None:
    model, x = TinyMLP(100, 2), narrow.x[:6]
    mixed = get_attribution("saliency", model).attribute(x, target=narrow.y[:6])
    for cls in (0, 1):
        rows = narrow.y[:6] == cls
        torch.testing.assert_close(mixed[rows], get_attribution("saliency", model).attribute(x, target=cls)[rows])
    with pytest.raises(AttributionError, match="target has 2 entries"):
        get_attribution("saliency", model).attribute(x, target=torch.tensor([0, 1]))


# --- definitions -----------------------------------------------------------------------


def dense_attention(model: GeneTokenTransformer, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Independent reference forward with explicit N x N attention kept in the graph."""
    h = model.embed(x)
    weights = []
    for block in model.blocks:
        attn, z = block.attn, block.norm1(h)
        b, n, d = z.shape
        q, k, v = attn.qkv(z).view(b, n, 3, attn.n_heads, -1).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5).softmax(-1)
        a.retain_grad()
        weights.append(a)
        h = h + attn.proj((a @ v).transpose(1, 2).reshape(b, n, d))
        h = h + block.ff(block.norm2(h))
    return model.head(model.norm(h[:, 0])), weights


def test_attention_methods_match_dense_definitions() -> None:
    model = tiny_transformer(20, seed=3)
    model.blocks.append(tiny_transformer(20, seed=4).blocks[0])  # three layers
    x = torch.randn(4, 20, generator=torch.Generator().manual_seed(5))
    logits, weights = dense_attention(model, x)
    torch.testing.assert_close(logits, model(x))
    (logits[:, 1] - logits[:, 0]).sum().backward()  # grad_attention explains the log-odds z_B - z_A
    eye = torch.eye(21)

    cls = get_attribution("attention", model).attribute(x)
    torch.testing.assert_close(cls, weights[-1].mean(1)[:, 0, 1:].detach())

    rollout, chefer = eye.expand(4, 21, 21), eye.expand(4, 21, 21)
    for a in weights:  # R = M_L ... M_1 built bottom-up
        mixed = 0.5 * a.detach().mean(1) + 0.5 * eye
        rollout = (mixed / mixed.sum(-1, keepdim=True)) @ rollout
        chefer = (eye + (a.grad * a.detach()).clamp(min=0).mean(1)) @ chefer
    for name, dense in (("attention_rollout", rollout), ("grad_attention", chefer)):
        chunked = get_attribution(name, model, chunk_size=4).attribute(x)
        torch.testing.assert_close(chunked, dense[:, 0, 1:], atol=1e-5, rtol=1e-4)
    assert torch.all(cls >= 0) and torch.all(cls.sum(1) <= 1)


@pytest.mark.parametrize(
    "model",
    [TinyMLP(100, 2), tiny_transformer(100), tiny_transformer(100, "binned")],
    ids=["mlp", "transformer", "transformer-binned"],
)
def test_integrated_gradients_completeness(model: nn.Module, narrow: Planted) -> None:
    x = narrow.x[:8]
    method = get_attribution("integrated_gradients", model, n_steps=64)
    attr = method.attribute(x)
    with torch.no_grad():  # completeness against the explained log-odds z_B - z_A, not logit B
        log_odds = model(x) @ torch.tensor([-1.0, 1.0])
        gap = log_odds - model(torch.zeros_like(x)) @ torch.tensor([-1.0, 1.0])
    torch.testing.assert_close(attr.sum(1), gap, atol=5e-3, rtol=2e-2)
    assert method.last_delta is not None and method.last_delta.abs().max() < 5e-3


# --- behaviour on planted signal -------------------------------------------------------


@pytest.mark.parametrize("name", [*GRADIENT, "deep_lift"])
def test_mlp_top50_recovers_planted_genes(name: str, mlp: nn.Module, wide: Planted) -> None:
    expected = 50 * len(wide.genes) / wide.x.shape[1]  # hits of a random ranking
    assert top_hits(attribute(name, mlp, wide.x[::2]), wide.genes, 50) >= 3 * expected


@pytest.mark.parametrize("name", [*ATTENTION, *GRADIENT])
def test_transformer_top10_recovers_planted_genes(name: str, transformer: nn.Module, narrow: Planted) -> None:
    expected = 10 * len(narrow.genes) / narrow.x.shape[1]
    assert top_hits(attribute(name, transformer, narrow.x[::4]), narrow.genes, 10) >= 3 * expected


def test_signed_attributions_follow_the_target_convention(mlp: nn.Module, wide: Planted) -> None:
    """Target 1 = evidence for B. The gradient points along the shift (gene up in B => positive);
    x-times-gradient methods measured from the training mean credit each sample's own class, so their
    B-minus-A difference is positive for every informative gene, up or down in B."""
    methods = [{"name": "saliency"}, {"name": "integrated_gradients", "n_steps": 16}]
    attributions, _ = compute_attributions(mlp, wide.x, methods)
    genes = [f"g{i}" for i in range(400)]
    table = importance_table(attributions, wide.y.numpy(), genes, ["A", "B"]).set_index(["method", "gene"])
    planted = [genes[i] for i in wide.genes]
    gradient = table.loc["saliency"].loc[planted, ["mean_A", "mean_B"]].mean(axis=1).to_numpy()
    assert np.mean(np.sign(gradient) == wide.up) >= 0.9
    assert np.mean(table.loc["integrated_gradients"].loc[planted, "signed_diff"] > 0) >= 0.9


@pytest.mark.parametrize("name", ["integrated_gradients", "saliency", "deep_lift"])
def test_model_randomisation_changes_mlp_attributions(name: str, mlp: nn.Module, wide: Planted) -> None:
    torch.manual_seed(1)
    x = wide.x[::2]
    trained, untrained = (attribute(name, m, x).abs().mean(0) for m in (mlp, TinyMLP(400, 2)))
    assert spearmanr(trained, untrained).statistic < 0.5


@pytest.mark.parametrize("name", [*ATTENTION, "integrated_gradients"])
def test_model_randomisation_changes_transformer_attributions(
    name: str, transformer: nn.Module, narrow: Planted
) -> None:
    x = narrow.x[::4]
    trained, untrained = (attribute(name, m, x).abs().mean(0) for m in (transformer, tiny_transformer(100, seed=1)))
    assert spearmanr(trained, untrained).statistic < 0.5


# --- importance table ------------------------------------------------------------------


def test_importance_table_aggregates_per_method_and_class(tmp_path) -> None:
    a = np.array([[1.0, -2.0, 0.0], [3.0, -4.0, 0.5], [-1.0, 0.0, 0.5]])
    table = importance_table({"m1": a, "m2": torch.tensor(-a)}, np.array(["B", "A", "B"]), ["x", "y", "z"], ["A", "B"])
    assert list(table.columns) == ["method", "gene", "importance", "rank", "mean_A", "mean_B", "signed_diff"]
    m1 = table[table.method == "m1"].set_index("gene")
    assert m1.loc["y", "rank"] == 1 and m1.loc["z", "rank"] == 3
    assert m1.loc["x", "importance"] == pytest.approx(5 / 3)
    assert m1.loc["x", "mean_A"] == 3.0 and m1.loc["x", "mean_B"] == 0.0 and m1.loc["x", "signed_diff"] == -3.0
    assert table[table.method == "m2"].set_index("gene").loc["x", "signed_diff"] == 3.0
    with pytest.raises(AttributionError, match="expected"):
        importance_table({"m": a[:, :2]}, np.array([0, 1, 0]), ["x", "y", "z"], ["A", "B"])
    with pytest.raises(AttributionError, match="NaN"):
        importance_table({"m": a * np.nan}, np.array([0, 1, 0]), ["x", "y", "z"], ["A", "B"])

    csv, parquet = save_importance_table(table, tmp_path / "run")
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), table)
    pd.testing.assert_frame_equal(pd.read_csv(csv), table)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["importance.csv", "importance.parquet"]
