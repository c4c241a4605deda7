"""Multi-layer perceptron over the standardised expression vector."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from genexai.errors import ConfigError

__all__ = ["MLP"]


class MLP(nn.Module):
    """``Linear → [norm] → ReLU → Dropout`` blocks, then a linear classifier.

    Each ReLU is its own module instance so Captum's DeepLift can attribute through it.
    No normalisation by default: DeepLift has no rule for LayerNorm (its completeness
    fails), while ``norm="batch"`` is affine at evaluation time and keeps DeepLift exact.

    Parameters
    ----------
    n_genes, n_classes
        Input width (genes the model sees) and number of classes.
    hidden_dims
        Width of each hidden layer.
    dropout
        Dropout after every hidden layer (expression data is wide and samples are few).
    norm
        ``"none"``, ``"layer"`` or ``"batch"`` normalisation after each hidden linear layer.
    """

    NORMS = {"none": lambda width: nn.Identity(), "layer": nn.LayerNorm, "batch": nn.BatchNorm1d}

    def __init__(
        self,
        n_genes: int,
        n_classes: int,
        hidden_dims: Sequence[int] = (256, 64),
        dropout: float = 0.3,
        norm: str = "none",
    ) -> None:
        super().__init__()
        if norm not in self.NORMS:
            raise ConfigError(f"model.backbone.norm must be one of {sorted(self.NORMS)}, got {norm!r}")
        layers: list[nn.Module] = []
        width = n_genes
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), self.NORMS[norm](hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(batch, n_genes)`` standardised expression → ``(batch, n_classes)`` logits."""
        return self.net(x)
