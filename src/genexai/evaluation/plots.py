"""Figures comparing attribution rankings with the DE baseline (DESeq2 or Wilcoxon), saved as PNG.

Figures are built on :class:`matplotlib.figure.Figure` directly (Agg canvas, no
pyplot), so nothing depends on a display or on global pyplot state, and each file is
written to a temporary name and renamed, so a killed run leaves no truncated PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve

from genexai.evaluation.faithfulness import RANDOM
from genexai.evaluation.metrics import de_hits, fill_lowest, neg_log10_pvalue, top_k
from genexai.utils.files import atomic_write


def _save(fig: Figure, path: Path | str) -> Path:
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))


def _methods(importance: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(importance["method"]))


def _scores(importance: pd.DataFrame, method: str) -> pd.Series:
    return importance.loc[importance["method"] == method].set_index("gene")["importance"]


def volcano(
    de: pd.DataFrame,
    importance: pd.DataFrame,
    path: Path | str,
    *,
    alpha: float = 0.05,
    lfc_threshold: float = 0.0,
    n_top: int = 10,
    de_label: str = "DESeq2",
) -> Path:
    """Volcano plot (log2FC vs -log10 p), DE hits coloured, each method's top genes marked.

    Shows at a glance whether the genes the network relies on are strong DE genes,
    weak ones, or not DE at all.
    """
    x, y = de["log2FoldChange"], neg_log10_pvalue(de["pvalue"])
    hit = de_hits(de, alpha, lfc_threshold)
    fig = Figure(figsize=(7, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(x[~hit], y[~hit], s=4, c="0.75", label="not DE", rasterized=True)
    ax.scatter(x[hit], y[hit], s=5, c="tab:red", alpha=0.6, label=f"DE hit (padj<{alpha})")
    markers = "osD^v<>ph*"
    for i, method in enumerate(_methods(importance)):
        genes = top_k(_scores(importance, method), n_top).intersection(de.index)
        ax.scatter(
            x[genes], y[genes], s=40, facecolors="none", edgecolors=f"C{i}",
            marker=markers[i % len(markers)], linewidths=1.3, label=f"top {n_top}: {method}",
        )
    ax.set_xlabel("log2 fold change (tested vs reference)")
    ax.set_ylabel("-log10 p-value")
    ax.set_title(f"{de_label} volcano with top attributed genes")
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    return _save(fig, path)


def pr_curves(
    importance: pd.DataFrame, is_hit: pd.Series, path: Path | str, *, hit_label: str = "DE hits"
) -> Path:
    """Precision-recall curve of each method's ranking against hits, with the chance line."""
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.add_subplot()
    prevalence = np.nan
    for i, method in enumerate(_methods(importance)):
        scores = fill_lowest(_scores(importance, method))
        labels = is_hit.reindex(scores.index, fill_value=False).to_numpy(dtype=bool)
        if not 0 < labels.sum() < len(labels):
            continue
        precision, recall, _ = precision_recall_curve(labels, scores.to_numpy())
        ax.plot(recall, precision, drawstyle="steps-post", color=f"C{i}", label=method)
        prevalence = labels.mean()
    if np.isfinite(prevalence):
        ax.axhline(prevalence, color="k", ls="--", lw=1, label=f"chance precision = prevalence ({prevalence:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Ranking {hit_label} by importance")
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, path)


def topk_overlap(
    importance: pd.DataFrame, de: pd.DataFrame, path: Path | str, *, k: int = 50, de_label: str = "DESeq2"
) -> Path:
    """Matrix of pairwise top-k overlaps between methods and DESeq2 (top-k by p-value).

    DESeq2's list is taken within the genes the model scored, so every set is drawn
    from the same universe; the diagonal is the list size.
    """
    universe = pd.Index(importance["gene"].unique()).intersection(de.index)
    sets = {m: set(top_k(_scores(importance, m).reindex(universe).dropna(), k)) for m in _methods(importance)}
    sets[de_label] = set(top_k(neg_log10_pvalue(de.loc[universe, "pvalue"]), k))
    names = list(sets)
    counts = np.array([[len(sets[a] & sets[b]) for b in names] for a in names])
    fig = Figure(figsize=(1.2 + 0.8 * len(names), 1 + 0.7 * len(names)), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues", vmin=0)
    for (i, j), value in np.ndenumerate(counts):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > counts.max() / 2 else "black", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    expected = k * k / max(len(universe), 1)
    ax.set_title(f"Top-{k} overlap (random pair expects {expected:.1f})", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _save(fig, path)


def rank_rank(
    importance: pd.DataFrame,
    de: pd.DataFrame,
    path: Path | str,
    *,
    alpha: float = 0.05,
    lfc_threshold: float = 0.0,
    de_label: str = "DESeq2",
) -> Path:
    """Rank of importance vs rank of DESeq2 -log10 p, one panel per method (rank 1 = top)."""
    methods = _methods(importance)
    hit = de_hits(de, alpha, lfc_threshold)
    ncol = min(3, len(methods))
    nrow = int(np.ceil(len(methods) / ncol))
    fig = Figure(figsize=(3.3 * ncol, 3.2 * nrow), layout="constrained")
    for i, method in enumerate(methods):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        scores = _scores(importance, method)
        genes = scores.index.intersection(de.index)
        rank_imp = scores[genes].rank(ascending=False)
        rank_p = fill_lowest(neg_log10_pvalue(de.loc[genes, "pvalue"])).rank(ascending=False)
        colors = np.where(hit[genes], "tab:red", "0.6")
        ax.scatter(rank_imp, rank_p, s=4, c=colors, rasterized=True)
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("importance rank", fontsize=8)
        ax.set_ylabel(f"{de_label} p-value rank", fontsize=8)
    fig.suptitle(f"Rank-rank: attribution vs {de_label} (red = DE hit)", fontsize=10)
    return _save(fig, path)


def deletion_curves(curves: pd.DataFrame, path: Path | str) -> Path:
    """Test AUROC and log-loss vs the number of deleted top genes, per method, beside random deletion (mean ± sd).

    A method whose curve falls (AUROC) or rises (log-loss) faster than the random band
    names genes the classifier actually relies on; see
    :mod:`genexai.evaluation.faithfulness`.
    """
    fig = Figure(figsize=(10, 4), layout="constrained")
    for j, (metric, label) in enumerate((("auroc", "test AUROC"), ("log_loss", "test log-loss"))):
        ax = fig.add_subplot(1, 2, j + 1)
        random = curves[curves["method"] == RANDOM]
        mean, sd = random[metric].to_numpy(), random[f"{metric}_sd"].to_numpy()
        ax.fill_between(random["k"], mean - sd, mean + sd, color="0.85", label="random genes (±sd)")
        ax.plot(random["k"], mean, color="k", ls="--", lw=1)
        for i, method in enumerate(m for m in dict.fromkeys(curves["method"]) if m != RANDOM):
            rows = curves[curves["method"] == method]
            ax.plot(rows["k"], rows[metric], marker=".", color=f"C{i}", label=method)
        ax.set_xscale("symlog", linthresh=1)  # k = 0 (nothing deleted) stays on the axis
        ax.set_xlabel("top-k genes deleted (set to training mean)")
        ax.set_ylabel(label)
        if j == 0:
            ax.legend(fontsize=7, frameon=False)
    fig.suptitle("Deletion curves: faithfulness of each ranking to the classifier", fontsize=10)
    return _save(fig, path)


def make_figures(
    out_dir: Path | str,
    importance: pd.DataFrame,
    de: pd.DataFrame,
    *,
    is_hit: pd.Series | None = None,
    hit_label: str = "true DE genes",
    alpha: float = 0.05,
    lfc_threshold: float = 0.0,
    k: int = 50,
    de_label: str = "DESeq2",
) -> dict[str, Path]:
    """Draw every comparison figure into ``out_dir``; returns ``name -> path``.

    ``is_hit`` (e.g. the simulated truth, named by ``hit_label``) labels the
    precision-recall curves; the default is the DE baseline's hits (``de_label``).
    """
    out_dir = Path(out_dir)
    if is_hit is None:
        is_hit, hit_label = de_hits(de, alpha, lfc_threshold), f"{de_label} hits"
    return {
        "volcano": volcano(
            de, importance, out_dir / "volcano.png", alpha=alpha, lfc_threshold=lfc_threshold, de_label=de_label
        ),
        "pr_curves": pr_curves(importance, is_hit, out_dir / "pr_curves.png", hit_label=hit_label),
        "topk_overlap": topk_overlap(importance, de, out_dir / "topk_overlap.png", k=k, de_label=de_label),
        "rank_rank": rank_rank(
            importance, de, out_dir / "rank_rank.png", alpha=alpha, lfc_threshold=lfc_threshold, de_label=de_label
        ),
    }
