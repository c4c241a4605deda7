"""LightningDataModule: split → fit preprocessing on train → tensors for every split."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from genexai.data.preprocess import Preprocessor
from genexai.data.sampling import EpochSeededSampler
from genexai.data.split import stratified_split
from genexai.errors import DataError

__all__ = ["RNASeqDataModule"]

SPLITS = ("train", "val", "test")


class RNASeqDataModule(pl.LightningDataModule):
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
    split
        ``{"val_fraction": ..., "test_fraction": ...}``, stratified per class.
    seed
        Split seed; the same seed always gives the same samples in each split.
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
    ) -> None:
        super().__init__()
        self.adata = adata
        self.condition_key = condition_key
        self.name = name
        self.design = design
        self.batch_size = batch_size
        self.seed = seed
        self.split_options = dict(split or {})
        self.preprocessor = Preprocessor(min_count=min_count, min_samples=min_samples, n_genes=n_genes, source=f"{name} (training split)")
        self.class_names = self._class_order(reference_level)
        self.labels = self.adata.obs[condition_key].astype(str).map(
            {name: i for i, name in enumerate(self.class_names)}
        ).to_numpy(dtype=np.int64)
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

    def setup(self, stage: str | None = None) -> None:
        """Split and fit preprocessing once (idempotent: Lightning calls it per stage)."""
        if self._tensors:
            return
        labels = self.adata.obs[self.condition_key].astype(str).to_numpy()
        self.split_index = stratified_split(labels, seed=self.seed, source=self.name, **self.split_options)
        counts = np.asarray(self.adata.X)
        train = self.split_index["train"]
        self.preprocessor.fit(counts[train], list(self.adata.var_names))
        for split, index in self.split_index.items():
            x = torch.from_numpy(self.preprocessor.transform(counts[index]))
            self._tensors[split] = (x, torch.from_numpy(self.labels[index]))

    @property
    def gene_names(self) -> list[str]:
        """Genes the model sees, in input-column order."""
        return self.preprocessor.gene_names

    @property
    def n_genes(self) -> int:
        return len(self.gene_names)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Standardised inputs and integer labels of one split."""
        self.setup()
        return self._tensors[split]

    def raw_counts(self, split: str = "train") -> ad.AnnData:
        """Raw counts (all genes) of one split — what DESeq2 must be fitted on."""
        self.setup()
        return self.adata[self.split_index[split]].copy()

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = TensorDataset(*self.tensors(split))
        sampler = EpochSeededSampler(len(dataset), self.seed) if shuffle else None
        return DataLoader(dataset, batch_size=self.batch_size, sampler=sampler)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
