"""Faithfulness of an attribution ranking: does the classifier actually rely on the genes it ranks first?

Independent of any DE baseline. A deletion curve replaces the top-k genes of a ranking
in every test sample by their training mean (the zero vector after the train-fitted
standardisation) and re-scores the test set; an attribution the model really depends on
makes AUROC fall and log-loss rise faster than deleting random genes does. The
reference is the same curve for ``n_random`` random rankings (seeded); each draw's
gene sets are nested in k, like an attribution's.

The summary of one ranking and one metric is the area between its curve and the random
curve over k in [0, K], divided by K (trapezoid on the grid; K = the largest k):
``faithfulness_auroc = ∫ (AUROC_random − AUROC_ranking) dk / K`` and
``faithfulness_logloss = ∫ (logloss_ranking − logloss_random) dk / K``. Larger = more
faithful; a random ranking scores 0 in expectation (``chance_faithfulness``). Its
uncertainty is the spread over the random draws: ``_sd`` is the standard deviation of
the per-draw areas, ``_pvalue`` the Monte Carlo p-value ``(1 + #{draws whose deletion
hurts at least as much}) / (n_random + 1)``. The test samples are held fixed, so this
says how far a ranking is from random gene sets on this test set, not how it would
vary over test sets.

The functions see only a ``predict_proba``-like callable and arrays, never the model
kind; :mod:`genexai.pipeline.evaluate` supplies the callable for each kind of model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from genexai.errors import ConfigError, DataError
from genexai.evaluation.metrics import top_k

__all__ = ["RANDOM", "ProbaFn", "deletion_curve", "deletion_grid", "faithfulness", "rankings_from_importance"]

#: ``predict_proba``-like: standardised inputs ``[n, genes]`` → class probabilities ``[n, classes]``.
ProbaFn = Callable[[np.ndarray], np.ndarray]
#: The ``method`` of the random-deletion reference rows in the curve table.
RANDOM = "random"
# Largest stacked input (values) handed to the model in one call: 2**25 float32 = 128 MiB.
_MAX_VALUES = 2**25
# Per column of a deletion curve (AUROC, log-loss): its summary name and the sign that makes
# "deleting the ranking's genes hurts more than deleting random ones" positive.
_SUMMARY = (("faithfulness_auroc", -1.0), ("faithfulness_logloss", 1.0))


def deletion_grid(n_genes: int, k_max: int, n_points: int) -> np.ndarray:
    """The numbers of deleted genes: 0, then ``n_points`` geometric steps from 1 to ``min(k_max, n_genes)``.

    Geometric, because the first few genes of a ranking carry most of the signal and
    are the ones where rankings differ; duplicates from rounding are dropped.
    """
    if n_genes < 1 or k_max < 1 or n_points < 1:
        raise ConfigError(
            f"comparison.faithfulness needs k_max >= 1 and n_points >= 1 on >= 1 gene, got k_max={k_max}, "
            f"n_points={n_points}, {n_genes} genes"
        )
    top = min(int(k_max), int(n_genes))
    steps = np.unique(np.round(np.geomspace(1, top, int(n_points))).astype(np.int64))
    return np.concatenate([[0], steps])


def _score(proba: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Test AUROC (one-vs-rest macro for > 2 classes; NaN with one class present) and log-loss."""
    classes = list(range(proba.shape[1]))
    loss = float(log_loss(labels, proba, labels=classes))
    if len(np.unique(labels)) < 2:
        return float("nan"), loss
    if len(classes) == 2:
        return float(roc_auc_score(labels, proba[:, 1])), loss
    return float(roc_auc_score(labels, proba, multi_class="ovr", average="macro", labels=classes)), loss


def deletion_curve(
    predict_proba: ProbaFn, x: np.ndarray, labels: np.ndarray, ranking: np.ndarray, fill: np.ndarray, ks: Sequence[int]
) -> np.ndarray:
    """AUROC and log-loss of the test set after deleting the first k genes of ``ranking``, for each k.

    Parameters
    ----------
    predict_proba
        The classifier, as standardised inputs → class probabilities.
    x, labels
        Standardised test inputs ``[n, genes]`` and class indices ``[n]``.
    ranking
        Gene column indices, most important first (at least ``max(ks)`` of them).
    fill
        Per-gene value a deleted gene takes (the training mean), ``[genes]``.
    ks
        Numbers of deleted genes (0 = the undeleted test set). The deleted copies for
        several k go to the model in one call of at most ``2**25`` values.

    Returns
    -------
    numpy.ndarray
        ``[len(ks), 2]``: AUROC and log-loss per k.
    """
    x = np.asarray(x, dtype=np.float32)
    per_call = max(1, _MAX_VALUES // x.size)
    scores = []
    for start in range(0, len(ks), per_call):  # one model call per block of k: per-call overhead dominates forests
        block = ks[start : start + per_call]
        stacked = np.repeat(x[None], len(block), axis=0)
        for layer, k in zip(stacked, block):
            layer[:, ranking[:k]] = fill[ranking[:k]]
        proba = np.asarray(predict_proba(stacked.reshape(-1, x.shape[1])), dtype=np.float64)
        scores += [_score(p, labels) for p in proba.reshape(len(block), len(x), -1)]
    return np.asarray(scores, dtype=np.float64)


def rankings_from_importance(importance: pd.DataFrame, gene_names: Sequence[str]) -> dict[str, np.ndarray]:
    """Per method of a tidy importance table, its genes as input-column indices, most important first.

    Ties keep the table's gene order (:func:`~genexai.evaluation.metrics.top_k`), so the
    ranking, and the curve, is deterministic.
    """
    position = {str(gene): j for j, gene in enumerate(gene_names)}
    rankings = {}
    for method, table in importance.groupby("method", sort=False):
        genes = top_k(table.set_index("gene")["importance"], len(table))
        unknown = [gene for gene in genes if str(gene) not in position]
        if unknown:
            raise DataError(
                "importance table",
                f"method {method!r} scores gene {unknown[0]!r}, which is not a model input; "
                "was the table made for another run?",
            )
        rankings[str(method)] = np.array([position[str(gene)] for gene in genes], dtype=np.int64)
    return rankings


def _check(x: np.ndarray, labels: np.ndarray, rankings: Mapping[str, np.ndarray], fill: np.ndarray, k: int) -> None:
    n_genes = x.shape[1]
    if len(labels) != len(x) or fill.shape != (n_genes,):
        raise DataError(
            "faithfulness", f"{len(x)} test samples x {n_genes} genes but {len(labels)} labels and {fill.size} fill values"
        )
    for method, ranking in rankings.items():
        if method == RANDOM:
            raise DataError("importance table", f"method name {RANDOM!r} is reserved for the random-deletion reference")
        valid = len(np.unique(ranking)) == len(ranking) and ((ranking >= 0) & (ranking < n_genes)).all()
        if not valid or len(ranking) < k:
            raise DataError(
                "importance table",
                f"method {method!r} ranks {len(ranking)} distinct model genes; deleting up to {k} needs that many "
                "(lower comparison.faithfulness.k_max)",
            )


def faithfulness(
    predict_proba: ProbaFn,
    x: np.ndarray,
    labels: np.ndarray,
    rankings: Mapping[str, np.ndarray],
    fill: np.ndarray,
    *,
    k_max: int = 100,
    n_points: int = 16,
    n_random: int = 20,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deletion curves of every ranking and of random rankings, and one faithfulness summary per ranking.

    Parameters
    ----------
    predict_proba, x, labels, fill
        As in :func:`deletion_curve`.
    rankings
        ``method -> gene column indices``, most important first
        (:func:`rankings_from_importance`).
    k_max, n_points
        The grid of deleted-gene counts (:func:`deletion_grid`).
    n_random
        Random rankings averaged into the reference curve (>= 2, for the spread).
    seed
        Seed of the random rankings; shared by every method, so all are measured
        against the same reference.

    Returns
    -------
    curves : pandas.DataFrame
        ``method, k, auroc, auroc_sd, log_loss, log_loss_sd``; the ``random`` rows hold the
        mean and standard deviation over the draws, a method's rows have no sd.
    summary : pandas.DataFrame
        Indexed by method: ``faithfulness_auroc``, ``_sd``, ``_pvalue``, the same for
        ``faithfulness_logloss``, and ``chance_faithfulness`` (0), see the module docstring.
    """
    x, labels, fill = np.asarray(x), np.asarray(labels).astype(np.int64), np.asarray(fill, dtype=np.float32)
    if n_random < 2:
        raise ConfigError(f"comparison.faithfulness.n_random must be >= 2 (the spread of the reference), got {n_random}")
    ks = deletion_grid(x.shape[1], k_max, n_points)
    rankings = {m: np.asarray(r, dtype=np.int64) for m, r in rankings.items()}
    _check(x, labels, rankings, fill, int(ks[-1]))
    rng = np.random.default_rng(seed)
    random = np.stack([
        deletion_curve(predict_proba, x, labels, rng.permutation(x.shape[1]), fill, ks) for _ in range(n_random)
    ])  # [draw, k, metric]
    frames = [pd.DataFrame({
        "method": RANDOM, "k": ks,
        "auroc": random[..., 0].mean(0), "auroc_sd": random[..., 0].std(0, ddof=1),
        "log_loss": random[..., 1].mean(0), "log_loss_sd": random[..., 1].std(0, ddof=1),
    })]
    summary = {}
    for method, ranking in rankings.items():
        curve = deletion_curve(predict_proba, x, labels, ranking, fill, ks)
        frames.append(pd.DataFrame({"method": method, "k": ks, "auroc": curve[:, 0], "log_loss": curve[:, 1]}))
        row = {}
        for j, (name, sign) in enumerate(_SUMMARY):
            # per draw: area between the draw's curve and the ranking's, over [0, K], per deleted gene
            per_draw = np.trapezoid(sign * (curve[:, j] - random[..., j]), ks, axis=1) / ks[-1]
            row[name] = float(per_draw.mean())
            row[f"{name}_sd"] = float(per_draw.std(ddof=1))
            row[f"{name}_pvalue"] = float((1 + np.sum(~(per_draw > 0))) / (n_random + 1))
        summary[method] = {**row, "chance_faithfulness": 0.0}
    curves = pd.concat(frames, ignore_index=True)[["method", "k", "auroc", "auroc_sd", "log_loss", "log_loss_sd"]]
    return curves, pd.DataFrame.from_dict(summary, orient="index").rename_axis("method")
