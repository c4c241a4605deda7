"""Classification metrics of a split, the same for every model kind: accuracy, AUROC, macro F1, log-loss.

One implementation (scikit-learn) scores the Lightning networks and the classical
models alike, from the class probabilities the pipeline asks each estimator for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

__all__ = ["classification_metrics"]


def classification_metrics(
    labels: np.ndarray,
    predicted: np.ndarray,
    scores: np.ndarray,
    n_classes: int,
    prefix: str,
    *,
    has_proba: bool = True,
    class_names: Sequence[str] | None = None,
) -> dict[str, float]:
    """``<prefix>/acc``, ``/auroc``, ``/f1`` (macro), and ``/loss`` (log-loss) when ``scores`` are probabilities.

    Micro accuracy, one-vs-rest macro AUROC and macro F1; AUROC is NaN when the split
    holds only one class. ``scores`` are class probabilities ``(n, C)``, or (a model
    without probabilities, ``has_proba=False``) the positive-class decision score ``(n,)``
    (or per-class decision scores ``(n, C)`` for ``C > 2``). With more than two classes,
    also ``<prefix>/auroc_<class>``: each class against the rest (``class_names`` name
    them; default the class index), NaN for a class absent from the split.
    """
    y = np.asarray(labels).astype(np.int64)
    classes = list(range(n_classes))
    metrics = {
        f"{prefix}/acc": float(accuracy_score(y, predicted)),
        f"{prefix}/f1": float(f1_score(y, predicted, average="macro", labels=classes, zero_division=0)),
    }
    if len(np.unique(y)) < 2:
        metrics[f"{prefix}/auroc"] = float("nan")
    elif n_classes == 2:
        metrics[f"{prefix}/auroc"] = float(roc_auc_score(y, scores[:, 1] if has_proba else scores))
    else:
        metrics[f"{prefix}/auroc"] = float(roc_auc_score(y, scores, multi_class="ovr", average="macro", labels=classes))
    if n_classes > 2:
        names = [str(c) for c in class_names] if class_names is not None else [str(c) for c in classes]
        for code, name in enumerate(names):
            member = y == code
            metrics[f"{prefix}/auroc_{name}"] = (
                float(roc_auc_score(member, scores[:, code])) if 0 < member.sum() < len(y) else float("nan")
            )
    if has_proba:
        metrics[f"{prefix}/loss"] = float(log_loss(y, scores, labels=classes))
    return metrics
