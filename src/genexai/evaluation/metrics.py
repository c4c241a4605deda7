"""Agreement metrics between a gene ranking (attribution importance) and DE hits.

Pure functions on pandas objects indexed by gene. Each metric comes with its chance
level: a number is only meaningful next to what a random ranking of the same genes
would score (AUROC 0.5; AUPRC the expected average precision of a random ranking, which
exceeds the hit prevalence when hits are few; precision@k = hit prevalence; recall@k = k / n;
Jaccard and overlap under a random draw of the same sizes; sign agreement 0.5;
Spearman 0). Average precision, AUROC, Spearman and the hypergeometric tail are the
scikit-learn / scipy implementations (see METHODS.md, "Comparison with DE").
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from genexai.de.hits import de_hits
from scipy.stats import ConstantInputWarning, hypergeom, spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score

from genexai.evaluation.batched import jaccard_from_counts

CHANCE_AUROC = 0.5
CHANCE_SIGN_AGREEMENT = 0.5
CHANCE_SPEARMAN = 0.0


def planted_de(var: pd.DataFrame) -> pd.Series | None:
    """The planted DE genes of simulated / spike-in data (``var["is_de"]`` as bool), or None for real data."""
    return var["is_de"].astype(bool) if "is_de" in var else None


def realised_fdr_power(
    de: pd.DataFrame, truth: pd.Series, alpha: float = 0.05, lfc_threshold: float = 0.0
) -> dict[str, float]:
    """Realised FDR (false discovery proportion) and power of DE calls against a known truth.

    Calls are :func:`de_hits` at the nominal threshold, over the genes of ``de`` that
    ``truth`` covers: ``FDP = false calls / calls`` (0 when nothing is called), ``power =
    true calls / true DE genes`` (NaN when there is none). Compare FDP with ``alpha``.

    Returns
    -------
    dict
        ``n_calls, n_true_calls, n_true_de, realised_fdr, power, nominal_fdr``.
    """
    genes = de.index.intersection(truth.index, sort=False)
    called = de_hits(de.loc[genes], alpha, lfc_threshold).to_numpy(dtype=bool)
    is_de = truth.loc[genes].astype(bool).to_numpy()
    n_calls, n_true_calls, n_true = int(called.sum()), int((called & is_de).sum()), int(is_de.sum())
    return {
        "n_calls": n_calls,
        "n_true_calls": n_true_calls,
        "n_true_de": n_true,
        "realised_fdr": false_discovery_proportion(n_calls, n_true_calls),
        "power": true_positive_rate(n_true_calls, n_true),
        "nominal_fdr": float(alpha),
    }


def false_discovery_proportion(n_calls: int, n_true_calls: int) -> float:
    """Realised FDP of one list of calls: false calls / calls, 0 when nothing is called.

    The one FDP rule (DE calls here, ML and DESeq2 lists in
    :func:`genexai.significance.significance_calls`): an empty list makes no false
    discovery, so its FDP is 0 rather than undefined, as in the FDR's definition.
    """
    return (n_calls - n_true_calls) / n_calls if n_calls else 0.0


def true_positive_rate(n_true_calls: int, n_true: int) -> float:
    """Power (recall): true calls / true genes; NaN when there is no true gene to find.

    The one power/recall rule: DE power here, recall@k in :func:`topk_metrics` and the ML
    lists' power in :func:`genexai.significance.significance_calls`.
    """
    return n_true_calls / n_true if n_true else np.nan


def neg_log10_pvalue(pvalue: pd.Series) -> pd.Series:
    """``-log10 p`` as a ranking score; p = 0 is clipped to the smallest float, NaN stays NaN."""
    clipped = pvalue.astype(float).clip(lower=np.finfo(float).tiny)
    return -np.log10(clipped)


def fill_lowest(scores: pd.Series) -> pd.Series:
    """Rank NaN scores below every finite score (e.g. untested genes in a p-value ranking)."""
    scores = scores.astype(float)
    finite = scores[np.isfinite(scores)]
    low = (finite.min() - 1.0) if len(finite) else 0.0
    return scores.fillna(low)


def top_k(scores: pd.Series, k: int) -> pd.Index:
    """Genes with the k highest scores; NaN last, ties broken by the input order (stable)."""
    order = scores.astype(float).sort_values(ascending=False, kind="mergesort", na_position="last")
    return order.index[:k]


def reference_top_k(reference_scores: pd.Series, k: int) -> pd.Index:
    """A reference ranking's top k (DE ``-log10 p``, true ``|log2FC|``), independent of any scored method.

    Genes without a reference score (NaN: untested by DE, or not planted) are left out, so
    the set may hold fewer than k genes; ties are broken by gene ID. Breaking them by the
    order of the table being scored would pad the reference with that method's own top
    genes (against the truth every non-DE gene ties at |log2FC| = 0) and inflate Jaccard@k.
    """
    scores = reference_scores.astype(float).dropna()
    by_gene = scores.iloc[np.argsort(scores.index.astype(str).to_numpy(), kind="mergesort")]
    return top_k(by_gene, k)


def expected_average_precision(n: int, n_hits: int) -> float:
    """Expected average precision of a uniformly random ranking of ``n`` genes, ``n_hits`` of them hits.

    The chance level of AUPRC. A hit at rank i has expected precision
    ``(1 + (i - 1)(R - 1)/(n - 1)) / i``, so ``E[AP] = (H_n + (R - 1)/(n - 1)·(n - H_n)) / n``
    with ``H_n`` the n-th harmonic number (Bestgen 2015). It is the prevalence ``R / n``
    only as n grows with R/n fixed: 1000 genes with 5 hits give 0.0115, not 0.005.
    """
    if not 0 < n_hits <= n:
        return np.nan
    if n == 1:
        return 1.0
    harmonic = float(np.sum(1.0 / np.arange(1, n + 1)))
    return (harmonic + (n_hits - 1) / (n - 1) * (n - harmonic)) / n


def ranking_metrics(scores: pd.Series, is_hit: pd.Series) -> dict[str, float]:
    """AUPRC (average precision) and AUROC of a score ranking against hits.

    Parameters
    ----------
    scores : pandas.Series
        Higher = more important, indexed by gene; NaN ranks lowest.
    is_hit : pandas.Series of bool
        Hit labels; aligned on ``scores.index``.

    Returns
    -------
    dict
        ``auprc, chance_auprc`` (:func:`expected_average_precision`), ``prevalence``,
        ``lift`` (= auprc / chance_auprc),
        ``auroc, chance_auroc`` (= 0.5), ``n_genes, n_hits``. Undefined metrics (no
        hit, or every gene a hit) are NaN.
    """
    y = is_hit.reindex(scores.index, fill_value=False).to_numpy(dtype=bool)
    s = fill_lowest(scores).to_numpy()
    n, n_hits = len(y), int(y.sum())
    defined = 0 < n_hits < n
    auprc = float(average_precision_score(y, s)) if defined else np.nan
    chance = expected_average_precision(n, n_hits) if defined else np.nan
    return {
        "n_genes": n,
        "n_hits": n_hits,
        "auprc": auprc,
        "chance_auprc": chance,
        "prevalence": n_hits / n if n else np.nan,
        "lift": auprc / chance if defined else np.nan,
        "auroc": float(roc_auc_score(y, s)) if defined else np.nan,
        "chance_auroc": CHANCE_AUROC,
    }


def overlap_pvalue(overlap: int, population: int, successes: int, draws: int) -> float:
    """Hypergeometric upper tail ``P(X >= overlap)``.

    ``population`` = genes scored, ``successes`` = hits among them, ``draws`` = k:
    the chance that k genes drawn at random contain at least ``overlap`` hits.
    """
    return float(hypergeom.sf(overlap - 1, population, successes, draws))


def expected_jaccard(population: int, size_a: int, size_b: int) -> float:
    """Expected Jaccard index of two independent uniformly random gene sets.

    The overlap of random sets of sizes a and b drawn from ``population`` genes is
    hypergeometric; the expectation of ``o / (a + b - o)`` is summed over its pmf.
    """
    if size_a == 0 and size_b == 0:
        return np.nan
    o = np.arange(max(0, size_a + size_b - population), min(size_a, size_b) + 1)
    pmf = hypergeom.pmf(o, population, size_a, size_b)
    return float(np.sum(pmf * o / (size_a + size_b - o)))


def jaccard(a: set, b: set) -> float:
    """Jaccard index ``|a ∩ b| / |a ∪ b|`` (NaN for two empty sets)."""
    return float(jaccard_from_counts(len(a & b), len(a), len(b)))


def topk_metrics(
    scores: pd.Series,
    reference_scores: pd.Series | None,
    is_hit: pd.Series,
    k: int,
) -> dict[str, float]:
    """Top-k agreement of a ranking with hits and with a reference ranking.

    Parameters
    ----------
    scores : pandas.Series
        Importance per gene (higher = more important); defines the gene universe.
    reference_scores : pandas.Series or None
        Reference ranking score (e.g. ``-log10 p`` of DESeq2, or ``|true log2FC|`` of
        the planted genes, NaN elsewhere); Jaccard@k compares the top-k set with
        :func:`reference_top_k` (NaN left out, ties by gene ID). ``None`` gives NaN Jaccard.
    is_hit : pandas.Series of bool
        Hits (DE or true DE genes).
    k : int
        List length; clipped to the number of genes (reported as ``k``).

    Returns
    -------
    dict
        ``k, overlap`` (hits in the top k), ``precision, recall, jaccard,
        overlap_pvalue`` (hypergeometric), and chance levels ``chance_precision``
        (prevalence), ``chance_recall`` (k / n), ``chance_jaccard`` (random sets of
        the same sizes: k and the reference's top-k), ``expected_overlap`` (k * prevalence).
    """
    n = len(scores)
    k = min(int(k), n)
    hits = is_hit.reindex(scores.index, fill_value=False).astype(bool)
    n_hits = int(hits.sum())
    top = top_k(scores, k)
    overlap = int(hits.loc[top].sum())
    prevalence = n_hits / n if n else np.nan
    jac, chance_jac = np.nan, (expected_jaccard(n, k, k) if k else np.nan)
    if reference_scores is not None:
        reference_top = reference_top_k(reference_scores.reindex(scores.index), k)
        jac = jaccard(set(top), set(reference_top))
        chance_jac = expected_jaccard(n, k, len(reference_top)) if k else np.nan
    return {
        "k": k,
        "overlap": overlap,
        "precision": overlap / k if k else np.nan,
        "recall": true_positive_rate(overlap, n_hits),
        "jaccard": jac,
        "overlap_pvalue": overlap_pvalue(overlap, n, n_hits, k) if k else np.nan,
        "chance_precision": prevalence,
        "chance_recall": k / n if n else np.nan,
        "chance_jaccard": chance_jac,
        "expected_overlap": k * prevalence if n else np.nan,
    }


def spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman correlation of two gene scores on their common, non-NaN genes.

    NaN when fewer than 3 pairs remain or either side is constant. Chance level 0.
    """
    pair = pd.concat([x.rename("x"), y.rename("y")], axis=1, join="inner").dropna()
    if len(pair) < 3 or pair["x"].nunique() < 2 or pair["y"].nunique() < 2:
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)
        return float(spearmanr(pair["x"], pair["y"]).statistic)


def sign_agreement(
    signed_diff: pd.Series, log2fc: pd.Series, mask: pd.Series | None = None
) -> dict[str, float]:
    """Fraction of genes whose class-B-minus-A attribution has the sign of log2FC.

    Only genes in ``mask`` (e.g. DE hits) with both values finite and non-zero count;
    a zero has no direction. Chance level 0.5 (random signs).

    Returns
    -------
    dict
        ``sign_agreement`` (NaN if no gene qualifies), ``n_sign_genes``,
        ``chance_sign_agreement``.
    """
    pair = pd.concat([signed_diff.rename("a"), log2fc.rename("b")], axis=1, join="inner")
    if mask is not None:
        pair = pair[mask.reindex(pair.index, fill_value=False).astype(bool)]
    a, b = np.sign(pair["a"].to_numpy(float)), np.sign(pair["b"].to_numpy(float))
    usable = np.isfinite(a) & np.isfinite(b) & (a != 0) & (b != 0)
    n = int(usable.sum())
    return {
        "sign_agreement": float(np.mean(a[usable] == b[usable])) if n else np.nan,
        "n_sign_genes": n,
        "chance_sign_agreement": CHANCE_SIGN_AGREEMENT,
    }


def jaccard_stability(sets: Sequence[set], population: int | None = None) -> dict[str, float]:
    """Mean pairwise Jaccard of top-k sets across seeds or folds.

    Parameters
    ----------
    sets : sequence of set
        One top-k gene set per seed/fold.
    population : int, optional
        Genes the sets were drawn from; gives the chance level (mean expected
        Jaccard of random sets of the same sizes).

    Returns
    -------
    dict
        ``stability`` (NaN with fewer than two sets), ``n_sets``, ``chance_stability``.
    """
    pairs = list(combinations(sets, 2))
    stability = float(np.mean([jaccard(set(a), set(b)) for a, b in pairs])) if pairs else np.nan
    chance = np.nan
    if pairs and population is not None:
        chance = float(np.mean([expected_jaccard(population, len(a), len(b)) for a, b in pairs]))
    return {"stability": stability, "n_sets": len(sets), "chance_stability": chance}
