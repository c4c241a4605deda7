"""Batched linear algebra on many small ``p x p`` systems, one per gene.

LAPACK's batched routines pay a per-matrix call overhead that dominates for the
2 x 2 ... 10 x 10 matrices of a DESeq2 design; these loops run over the ``p``
columns instead, each step one vectorised operation over all genes.
"""

from __future__ import annotations

import torch

__all__ = ["cholesky", "gram", "outer_rows", "spd_inverse"]


def cholesky(M: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factor of a batch of small SPD matrices (``genes x p x p``).

    Non-positive-definite matrices give NaN.
    """
    p = M.shape[-1]
    L = torch.zeros_like(M)
    for j in range(p):
        d = torch.sqrt(M[:, j, j] - (L[:, j, :j] ** 2).sum(-1))
        L[:, j, j] = d
        if j + 1 < p:
            L[:, j + 1 :, j] = (M[:, j + 1 :, j] - (L[:, j + 1 :, :j] * L[:, j, None, :j]).sum(-1)) / d[:, None]
    return L


def spd_inverse(M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of a batch of small SPD matrices via Cholesky; returns ``(inverse, L)``."""
    L = cholesky(M)
    p = M.shape[-1]
    Li = torch.zeros_like(L)
    for i in range(p):
        Li[:, i, i] = 1.0 / L[:, i, i]
        for j in range(i):
            Li[:, i, j] = -(L[:, i, j:i] * Li[:, j:i, j]).sum(-1) / L[:, i, i]
    return Li.transpose(1, 2) @ Li, L


def outer_rows(X: torch.Tensor) -> torch.Tensor:
    """``n x p²`` matrix of row outer products, so ``X^T diag(w_g) X`` for every gene is one matmul."""
    n, p = X.shape
    return (X[:, :, None] * X[:, None, :]).reshape(n, p * p)


def gram(XX: torch.Tensor, W: torch.Tensor, p: int) -> torch.Tensor:
    """Batched ``X^T diag(W[:, g]) X``: ``genes x p x p`` (``XX`` from :func:`outer_rows`)."""
    return (XX.T @ W).T.reshape(-1, p, p)
