"""Multi-layer perceptron over the standardised expression vector."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """``Linear → LayerNorm → ReLU → Dropout`` blocks, then a linear classifier.

    Each ReLU is its own module instance so Captum's DeepLift can attribute through it.

    Parameters
    ----------
    n_genes, n_classes
        Input width (genes the model sees) and number of classes.
    hidden_dims
        Width of each hidden layer.
    dropout
        Dropout after every hidden layer (expression data is wide and samples are few).
    """

    def __init__(self, n_genes: int, n_classes: int, hidden_dims: Sequence[int] = (256, 64), dropout: float = 0.3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_genes
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(batch, n_genes)`` standardised expression → ``(batch, n_classes)`` logits."""
        return self.net(x)
