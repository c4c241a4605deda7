"""Preprocessing fitted on the training split only, then applied to every split.

Order (METHODS.md): gene filter → DESeq2 median-of-ratios size factors →
``log1p(x / s)`` → top-N most variable genes → per-gene standardisation. Every
statistic (geometric means, variances, means, sds) comes from training samples, so
validation and test samples never influence what the model sees. A gene list chosen
upstream (DE-based selection on the training samples, see
:class:`~genexai.data.datamodule.RNASeqDataModule`) can replace the variance ranking.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genexai.errors import DataError

__all__ = ["Preprocessor", "expressed_mask", "median_of_ratios_log_geomeans", "size_factors"]


def expressed_mask(counts: np.ndarray, min_count: int = 10, min_samples: float = 0.2) -> np.ndarray:
    """Genes with ``count >= min_count`` in at least ``min_samples`` samples (a fraction if < 1).

    Returns a boolean mask over the columns of ``counts`` (samples × genes).
    """
    counts = np.asarray(counts)
    n = counts.shape[0]
    needed = min_samples if min_samples >= 1 else max(1, int(np.ceil(min_samples * n)))
    return (counts >= min_count).sum(axis=0) >= needed


def median_of_ratios_log_geomeans(counts: np.ndarray) -> np.ndarray:
    """Per-gene log geometric means for DESeq2 size factors; ``-inf`` where a count is 0.

    Only genes with every count > 0 get a finite value, as in DESeq2.
    """
    with np.errstate(divide="ignore"):
        return np.log(counts).mean(axis=0)


def size_factors(counts: np.ndarray, log_geomeans: np.ndarray) -> np.ndarray:
    """Median-of-ratios size factors ``s_i = exp(median_j(log x_ij − g_j))``.

    Genes with a non-finite geometric mean, and a sample's zero counts, are left out of
    that sample's median (DESeq2's ``estimateSizeFactorsForMatrix``), which lets the
    training-set means be applied to any new sample.
    """
    usable = np.isfinite(log_geomeans)
    if not usable.any():
        raise DataError("<training split>", "no gene has non-zero counts in every training sample; cannot compute size factors")
    with np.errstate(divide="ignore"):
        log_ratios = np.log(counts[:, usable].astype(np.float64)) - log_geomeans[usable]
    log_ratios[~np.isfinite(log_ratios)] = np.nan
    medians = np.nanmedian(log_ratios, axis=1)
    if np.isnan(medians).any():
        raise DataError("<counts>", "a sample shares no expressed gene with the training reference; cannot normalise it")
    return np.exp(medians)


@dataclass
class Preprocessor:
    """Fit-on-train, apply-anywhere transform from raw counts to model input.

    Parameters
    ----------
    min_count, min_samples
        Keep genes with ``count >= min_count`` in at least ``min_samples`` training
        samples (a fraction in (0, 1) is taken of the training-set size).
    n_genes
        Number of most variable genes (of the log-normalised training values) kept as
        model input, or ``"all"``.
    source
        What the data is called in error messages (the dataset's name).
    """

    min_count: int = 10
    min_samples: float = 0.2
    n_genes: int | str = 1000
    source: str = "training split"
    gene_names: list[str] = field(default_factory=list, init=False)
    expressed_genes: list[str] = field(default_factory=list, init=False)
    log_geomeans: np.ndarray | None = field(default=None, init=False, repr=False)
    mean: np.ndarray | None = field(default=None, init=False, repr=False)
    std: np.ndarray | None = field(default=None, init=False, repr=False)
    _selected: np.ndarray | None = field(default=None, init=False, repr=False)

    def fit(self, counts: np.ndarray, genes: list[str], selected: list[str] | None = None) -> "Preprocessor":
        """Learn filtering, size-factor reference, gene selection and scaling from ``counts`` (training samples only).

        ``selected`` (optional) is the model's gene list chosen upstream, e.g. the top DE
        genes of the training samples; it replaces the top-N variance ranking (the
        expression filter still defines :attr:`expressed_genes`). Genes keep the column
        order of ``genes``.
        """
        counts = np.asarray(counts)
        n_train = counts.shape[0]
        needed = self.min_samples if self.min_samples >= 1 else max(1, int(np.ceil(self.min_samples * n_train)))
        keep = np.flatnonzero(expressed_mask(counts, self.min_count, self.min_samples))
        if keep.size == 0:
            raise DataError(
                self.source,
                f"no gene has >= {self.min_count} counts in >= {needed} training samples, so no gene is left after "
                "filtering; lower data.min_count or data.min_samples",
            )
        self.expressed_genes = [genes[j] for j in keep]
        self.log_geomeans = median_of_ratios_log_geomeans(counts)
        if selected is not None:
            position = {gene: j for j, gene in enumerate(genes)}
            unknown = [gene for gene in selected if gene not in position]
            if unknown or not selected:
                problem = f"gene {unknown[0]!r} is not in the data" if unknown else "the selected gene list is empty"
                raise DataError(self.source, f"cannot use the upstream gene selection: {problem}")
            keep = np.array(sorted(position[gene] for gene in set(selected)), dtype=np.int64)
        values = self._log_normalise(counts, keep)
        if selected is not None or self.n_genes == "all":
            chosen = np.arange(keep.size)
        elif isinstance(self.n_genes, int) and self.n_genes > 0:
            # Stable sort on -variance: ties keep gene order, so selection is deterministic.
            chosen = np.sort(np.argsort(-values.var(axis=0), kind="stable")[: self.n_genes])
        else:
            raise DataError(self.source, f"data.n_genes must be a positive integer or 'all', got {self.n_genes!r}")
        self._selected = keep[chosen]
        values = values[:, chosen]
        self.mean = values.mean(axis=0)
        std = values.std(axis=0)
        self.std = np.where(std > 1e-8, std, 1.0)
        self.gene_names = [genes[j] for j in self._selected]
        return self

    def _log_normalise(self, counts: np.ndarray, columns: np.ndarray) -> np.ndarray:
        factors = size_factors(counts, self.log_geomeans)
        return np.log1p(counts[:, columns] / factors[:, None])

    def transform(self, counts: np.ndarray) -> np.ndarray:
        """Raw counts (all genes, training column order) → standardised float32 model input."""
        if self._selected is None:
            raise RuntimeError("Preprocessor.transform called before fit")
        values = self._log_normalise(np.asarray(counts), self._selected)
        return ((values - self.mean) / self.std).astype(np.float32)
