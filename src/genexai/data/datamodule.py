"""LightningDataModule: split (or CV fold) → gene selection and preprocessing fitted on train → tensors."""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any, Protocol

import anndata as ad
import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from genexai.data.augment import ThinnedCounts
from genexai.data.preprocess import Preprocessor, expressed_mask
from genexai.data.sampling import EpochSeededSampler
from genexai.data.grouped import grouped_split
from genexai.data.split import cv_splits, split_table, stratified_split
from genexai.errors import ConfigError, DataError

__all__ = ["RNASeqDataModule", "GENE_SELECTIONS", "DE_SELECTIONS"]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
#: ``data.gene_selection``: variance (top-N variance, default), all expressed genes, or DE-based.
GENE_SELECTIONS = ("variance", "all", "deseq2", "wilcoxon", "edger", "limma_voom")
#: Selections that run a DE test (named after the DE method, see ``genexai.de.build_de_method``).
DE_SELECTIONS = ("deseq2", "wilcoxon", "edger", "limma_voom")
#: ``data.gene_selection_scope``: ``all_samples`` exists only to demonstrate selection bias.
SCOPES = ("train", "all_samples")
DE_SELECTION_DEFAULTS: dict[str, Any] = {
    "mode": "top", "alpha": 0.05, "lfc_threshold": 0.0, "genes": "expressed",
}


class DESelector(Protocol):
    """A DE test + the selection rule, handed in by the pipeline (``data/`` knows no statistics).

    Called with the raw counts of the selection's samples and genes and the
    ``data.de_selection`` rule; returns the DE table, the chosen genes and whether the
    DE fit came from the cache.
    """

    def __call__(
        self,
        counts: pd.DataFrame,
        obs: pd.DataFrame,
        *,
        design: str,
        ref_level: str,
        n_genes: int | str,
        mode: str,
        alpha: float,
        lfc_threshold: float,
        source: str,
    ) -> tuple[pd.DataFrame, list[str], bool]: ...
LEAKY_WARNING = (
    "LEAKY gene selection: data.gene_selection_scope=all_samples picks the model's genes by a DE test on ALL "
    "samples, test samples included, so test metrics are optimistically biased. Use it only to demonstrate "
    "selection bias; data.gene_selection_scope=train is the honest pipeline."
)


class GeneSplits:
    """What every model input holder answers (the data module and the significance views): its genes and classes."""

    gene_names: list[str]
    class_names: list[str]

    @property
    def n_genes(self) -> int:
        return len(self.gene_names)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


class RNASeqDataModule(GeneSplits, pl.LightningDataModule):
    """Two-class bulk RNA-seq data, preprocessed without leakage.

    Parameters
    ----------
    adata
        Raw integer counts in ``X``; class labels in ``obs[condition_key]``.
    condition_key
        Metadata column with the two classes.
    reference_level
        Class 0 ("A", e.g. ``normal``); the other level is class 1 ("B"). ``None`` takes
        the first level in sorted order (or the categorical order when defined).
    design
        DESeq2 design formula of the DE baseline fitted on this data's training split.
    n_genes, min_count, min_samples
        Gene selection and filter of :class:`~genexai.data.preprocess.Preprocessor`.
    gene_selection
        How the model's ``n_genes`` genes are chosen on the training split:
        ``variance`` (top-N variance of the log-normalised values; ``n_genes="all"``
        keeps every expressed gene), ``all`` (every expressed gene), ``deseq2`` or
        ``wilcoxon`` (a DE test of the training samples' raw counts; see
        ``de_selection``).
    gene_selection_scope
        ``train`` (honest). ``all_samples`` runs the DE selection on every sample, test
        samples included: a deliberately leaky variant that exists to demonstrate
        selection bias, and warns loudly.
    de_selection
        Options of DE-based selection: ``mode`` (``top``: the ``n_genes`` genes with the
        smallest padj, ties broken by p-value; ``threshold``: every gene with
        ``padj < alpha`` and ``|log2FC| >= lfc_threshold``), ``alpha``,
        ``lfc_threshold``, ``genes`` (``expressed``: genes passing the expression filter
        on the same samples, faster; ``all``), ``cache_dir`` (DESeq2 cache), ``n_cpus``.
    split
        ``{"val_fraction": ..., "test_fraction": ...}``, stratified per class.
    cv
        ``{"folds": K, "repeats": R, "only_fold": i}``: repeated stratified K-fold
        (``folds: null`` = the single ``split``). The CV loop
        (:func:`genexai.pipeline.crossval.train_cv`) serves one fold per module through
        :meth:`with_fold`; ``split.val_fraction`` of each fold's training part becomes
        its validation set.
    groups
        Metadata column of sample groups (``data.groups``, e.g. ``patient`` for tumour-normal
        pairs): each group's samples stay in one split or CV fold (:mod:`~genexai.data.grouped`),
        and ``splits.csv`` lists the column. ``None``: samples are split one by one.
    fold
        Which CV fold (flat index, repeat-major) this module serves; set by the CV loop.
    seed
        Split seed; the same seed always gives the same samples in each split.
    augment_depth_log2
        ``> 0``: every training read of a sample binomially thins its raw counts by up to
        this many log2 units of depth before the train-fitted preprocessing
        (:class:`~genexai.data.augment.ThinnedCounts`); ``0`` (default) feeds the fixed
        preprocessed training tensors. Validation, test and attribution never see it.
    """

    def __init__(
        self,
        adata: ad.AnnData,
        condition_key: str = "condition",
        reference_level: str | None = None,
        design: str = "~condition",
        n_genes: int | str = 1000,
        min_count: int = 10,
        min_samples: float = 0.2,
        split: dict | None = None,
        batch_size: int = 32,
        seed: int = 0,
        name: str = "data",
        gene_selection: str = "variance",
        gene_selection_scope: str = "train",
        de_selection: dict | None = None,
        cv: dict | None = None,
        fold: int | None = None,
        augment_depth_log2: float = 0.0,
        de_selector: DESelector | None = None,
        groups: str | None = None,
    ) -> None:
        super().__init__()
        self._options = {k: v for k, v in locals().items() if k not in ("self", "adata", "__class__")}
        if gene_selection not in GENE_SELECTIONS:
            raise ConfigError(f"data.gene_selection must be one of {list(GENE_SELECTIONS)}, got {gene_selection!r}")
        if gene_selection_scope not in SCOPES:
            raise ConfigError(f"data.gene_selection_scope must be one of {list(SCOPES)}, got {gene_selection_scope!r}")
        if gene_selection_scope != "train" and gene_selection not in DE_SELECTIONS:
            raise ConfigError(
                f"data.gene_selection_scope={gene_selection_scope} only applies to DE-based selection "
                f"(data.gene_selection={'|'.join(DE_SELECTIONS)}), not {gene_selection!r}"
            )
        unknown = sorted(set(de_selection or {}) - set(DE_SELECTION_DEFAULTS))
        if unknown:
            raise ConfigError(f"unknown data.de_selection key {unknown[0]!r}; known: {sorted(DE_SELECTION_DEFAULTS)}")
        self.gene_selection = gene_selection
        self.gene_selection_scope = gene_selection_scope
        if gene_selection in DE_SELECTIONS and de_selector is None:
            raise ConfigError(
                f"data.gene_selection={gene_selection} needs a DE method; build the data module with "
                "genexai.pipeline.build.build_datamodule, which hands in the configured ${de}"
            )
        self.de_selection = {**DE_SELECTION_DEFAULTS, **(de_selection or {})}
        self.de_selector = de_selector
        self.n_genes_requested = n_genes
        self.cv = dict(cv or {})
        self.fold = fold
        #: DE table of the selection test (``selected`` column), or None for variance/all selection.
        self.selection_de: pd.DataFrame | None = None
        #: What the gene selection did (method, scope, samples, genes tested/selected, time).
        self.selection_info: dict[str, Any] = {"method": gene_selection}
        self.adata = adata
        self.condition_key = condition_key
        self.name = name
        self.design = design
        self.batch_size = batch_size
        self.seed = seed
        self.augment_depth_log2 = augment_depth_log2
        self.split_options = dict(split or {})
        self.preprocessor = Preprocessor(
            min_count=min_count,
            min_samples=min_samples,
            n_genes="all" if gene_selection == "all" else n_genes,
            source=f"{name} (training split)",
        )
        self.class_names = self._class_order(reference_level)
        self.labels = self.adata.obs[condition_key].astype(str).map(
            {name: i for i, name in enumerate(self.class_names)}
        ).to_numpy(dtype=np.int64)
        self.groups = groups
        self.group_labels = self._group_labels(groups)
        self.split_index: dict[str, np.ndarray] = {}
        self._tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def _class_order(self, reference_level: str | None) -> list[str]:
        column = self.adata.obs[self.condition_key]
        levels = [str(c) for c in column.cat.categories] if hasattr(column, "cat") else sorted(column.astype(str).unique())
        levels = [lvl for lvl in levels if lvl in set(column.astype(str))]
        if reference_level is None:
            return levels
        if reference_level not in levels:
            raise DataError(self.name, f"reference level {reference_level!r} not in condition levels {levels} (data.reference_level)")
        return [reference_level] + [lvl for lvl in levels if lvl != reference_level]

    def _group_labels(self, groups: str | None) -> np.ndarray | None:
        if groups is None:
            return None
        obs = self.adata.obs
        if groups not in obs.columns:
            raise DataError(self.name, f"data.groups={groups!r} is not a metadata column (columns: {list(obs.columns)})")
        if obs[groups].isna().any():
            raise DataError(self.name, f"data.groups column {groups!r} has {int(obs[groups].isna().sum())} missing value(s)")
        return obs[groups].astype(str).to_numpy()

    @property
    def cv_folds(self) -> int | None:
        """Number of CV folds (``data.cv.folds``), or None for the single split."""
        return self.cv.get("folds")

    def fold_splits(self) -> list[tuple[str, dict[str, np.ndarray]]]:
        """Every CV fold ``(name, {train, val, test})`` of this dataset (see :func:`~genexai.data.split.cv_splits`)."""
        labels = self.adata.obs[self.condition_key].astype(str).to_numpy()
        return cv_splits(
            labels,
            self.cv_folds,
            repeats=self.cv.get("repeats") or 1,
            val_fraction=self.split_options.get("val_fraction", 0.15),
            seed=self.seed,
            source=self.name,
            groups=self.group_labels,
        )

    def with_fold(self, fold: int) -> "RNASeqDataModule":
        """A fresh module on the same (already read) data that serves CV fold ``fold``."""
        return RNASeqDataModule(self.adata, **{**self._options, "fold": fold})

    def _make_split(self) -> dict[str, np.ndarray]:
        labels = self.adata.obs[self.condition_key].astype(str).to_numpy()
        if not self.cv_folds and self.group_labels is not None:
            return grouped_split(labels, self.group_labels, seed=self.seed, source=self.name, **self.split_options)
        if not self.cv_folds:
            return stratified_split(labels, seed=self.seed, source=self.name, **self.split_options)
        folds = self.fold_splits()
        if self.fold is None:
            raise ConfigError(
                "data.cv.folds is set but this data module serves no fold; train.py loops over the folds, "
                "and evaluate.py needs run_dir=<run>/fold_<r>_<k>"
            )
        if not 0 <= self.fold < len(folds):
            raise ConfigError(f"CV fold {self.fold} does not exist; folds 0..{len(folds) - 1} (data.cv.folds x repeats)")
        return folds[self.fold][1]

    def setup(self, stage: str | None = None) -> None:
        """Split, select genes and fit preprocessing once (idempotent: Lightning calls it per stage)."""
        if self._tensors:
            return
        self.split_index = self._make_split()
        counts = np.asarray(self.adata.X)
        train = self.split_index["train"]
        selected = self._de_selected_genes(counts) if self.gene_selection in DE_SELECTIONS else None
        self.preprocessor.fit(counts[train], list(self.adata.var_names), selected=selected)
        self.selection_info.update({"n_selected": self.n_genes, "scope": self.gene_selection_scope})
        for split, index in self.split_index.items():
            x = torch.from_numpy(self.preprocessor.transform(counts[index]))
            self._tensors[split] = (x, torch.from_numpy(self.labels[index]))

    def _de_selected_genes(self, counts: np.ndarray) -> list[str]:
        """The model's genes by a DE test on the training samples' raw counts (all samples if leaky)."""
        options = self.de_selection
        if self.gene_selection_scope == "all_samples":
            log.warning(LEAKY_WARNING)
            warnings.warn(LEAKY_WARNING, UserWarning, stacklevel=2)
            rows = np.arange(self.adata.n_obs)
        else:
            rows = self.split_index["train"]
        started = time.perf_counter()
        sub = counts[rows]
        if options["genes"] == "expressed":
            columns = np.flatnonzero(expressed_mask(sub, self.preprocessor.min_count, self.preprocessor.min_samples))
        elif options["genes"] == "all":
            columns = np.arange(sub.shape[1])
        else:
            raise ConfigError(f"data.de_selection.genes must be 'expressed' or 'all', got {options['genes']!r}")
        if columns.size == 0:
            raise DataError(self.name, "no gene passes the expression filter for DE-based selection; lower data.min_count")
        frame = pd.DataFrame(sub[:, columns], index=self.adata.obs_names[rows], columns=self.adata.var_names[columns])
        table, chosen, cache_hit = self.de_selector(
            frame,
            self.adata.obs.iloc[rows],
            design=self.design,
            ref_level=self.class_names[0],
            n_genes=self.n_genes_requested,
            mode=options["mode"],
            alpha=options["alpha"],
            lfc_threshold=options["lfc_threshold"],
            source=f"{self.name} ({'all samples' if self.gene_selection_scope == 'all_samples' else 'training split'})",
        )
        self.selection_de = table.assign(selected=table.index.isin(chosen))
        self.selection_info.update({
            "mode": options["mode"],
            "de_samples": int(len(rows)),
            "n_tested": int(len(table)),
            "cache_hit": bool(cache_hit),
            "time_s": time.perf_counter() - started,
            "leaky": self.gene_selection_scope == "all_samples",
        })
        log.info(
            "gene selection: %d genes by %s (%s) on %d %s samples x %d genes",
            len(chosen), self.gene_selection, options["mode"], len(rows),
            "ALL" if self.gene_selection_scope == "all_samples" else "training", len(columns),
        )
        return chosen

    @property
    def gene_names(self) -> list[str]:
        """Genes the model sees, in input-column order."""
        return self.preprocessor.gene_names

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised inputs and integer labels of one split."""
        self.setup()
        return self._tensors[split]

    def split_table(self) -> pd.DataFrame:
        """``sample, condition, split`` of every sample (the run's ``splits.csv``, see :func:`~genexai.data.split.split_table`)."""
        self.setup()
        conditions = self.adata.obs[self.condition_key].astype(str)
        groups = None if self.group_labels is None else (self.groups, self.group_labels)
        return split_table(list(self.adata.obs_names), list(conditions), self.split_index, groups)

    def raw_counts(self, split: str = "train") -> ad.AnnData:
        """Raw counts (all genes) of one split — what DESeq2 must be fitted on."""
        self.setup()
        return self.adata[self.split_index[split]].copy()

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        x, y = self.tensors(split)
        if split == "train" and self.augment_depth_log2:
            counts = np.asarray(self.adata.X)[self.split_index["train"]]
            dataset = ThinnedCounts(counts, y, self.preprocessor.transform, self.augment_depth_log2, self.seed)
        else:
            dataset = TensorDataset(x, y)
        sampler = EpochSeededSampler(len(dataset), self.seed) if shuffle else None
        return DataLoader(dataset, batch_size=self.batch_size, sampler=sampler)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
