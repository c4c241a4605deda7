"""Read-only variants of a set-up data module: permuted labels, or decoy genes appended.

Both keep the samples, the splits and the preprocessing fitted on the training split of
the original :class:`~genexai.data.datamodule.RNASeqDataModule` — only the labels (null)
or the input columns (decoys) change — and offer what model building, training and
attribution read: ``tensors(split)``, ``split_index``, ``gene_names``, ``class_names``,
``n_genes``, ``n_classes``, ``batch_size``, ``name``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from genexai.data.datamodule import GeneSplits
from genexai.errors import ConfigError

__all__ = ["DECOY_PREFIX", "DataView", "permuted_labels", "with_decoys"]

#: Decoy gene names are ``__decoy<k>__<gene>`` (k counts copies of the same gene).
DECOY_PREFIX = "__decoy"


class DataView(GeneSplits):
    """Fixed tensors per split plus the names a model and the attribution step need."""

    def __init__(
        self,
        tensors: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
        split_index: Mapping[str, np.ndarray],
        gene_names: list[str],
        class_names: list[str],
        batch_size: int,
        name: str,
    ) -> None:
        self._tensors = dict(tensors)
        self.split_index = dict(split_index)
        self.gene_names = list(gene_names)
        self.class_names = list(class_names)
        self.batch_size = batch_size
        self.name = name

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs ``[n, G]`` and integer labels of one split."""
        if split not in self._tensors:
            raise ConfigError(f"split {split!r} does not exist; choose one of {sorted(self._tensors)}")
        return self._tensors[split]


def _splits(datamodule) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {split: datamodule.tensors(split) for split in datamodule.split_index}


def permuted_labels(datamodule, rng: np.random.Generator) -> DataView:
    """The data module with every split's labels permuted within that split (class counts kept).

    The inputs are the original tensors (same preprocessing, fitted once on the same
    training split), so a model trained on this view differs from the observed one only in
    which sample carries which label. That is a valid null only when the preprocessing never
    looked at the labels: variance or expression-based gene selection, scaling. A DE-based
    gene selection (``data.gene_selection=deseq2|wilcoxon``) did, and is refused with
    significance (:func:`~genexai.significance.assess.check_significance_config`).
    """
    tensors = {}
    for split, (x, y) in _splits(datamodule).items():
        order = torch.from_numpy(rng.permutation(len(y)))
        tensors[split] = (x, y[order])
    return DataView(
        tensors, datamodule.split_index, datamodule.gene_names, datamodule.class_names, datamodule.batch_size,
        f"{datamodule.name} (permuted labels)",
    )


def decoy_sources(n_genes: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Column index of the real gene behind each decoy: ``floor(ratio)`` copies of every gene, plus a random sample of ``frac(ratio)·G`` genes."""
    if not np.isfinite(ratio) or ratio <= 0:
        raise ConfigError(f"significance.decoy_ratio must be > 0 (decoys per real gene, e.g. 1.0), got {ratio}")
    whole, fraction = int(np.floor(ratio)), ratio - np.floor(ratio)
    extra = round(fraction * n_genes)
    sources = np.concatenate([np.tile(np.arange(n_genes), whole), np.sort(rng.choice(n_genes, size=extra, replace=False))])
    if sources.size == 0:
        raise ConfigError(f"significance.decoy_ratio={ratio} gives no decoy for {n_genes} genes; raise it")
    return sources.astype(np.int64)


def with_decoys(datamodule, ratio: float, rng: np.random.Generator) -> tuple[DataView, np.ndarray]:
    """The data module with decoy (shadow) genes appended after the real ones (Boruta; Kursa & Rudnicki 2010).

    Decoy ``k`` is a copy of real gene ``sources[k]`` whose values are permuted across the
    samples of each split independently (a fresh permutation per decoy column): it keeps
    the gene's distribution in every split but carries no information about the labels.

    Returns
    -------
    view, sources
        The augmented view (``G + D`` genes: real first, decoys after) and the real-gene
        column behind each of the ``D`` decoys.
    """
    genes = list(datamodule.gene_names)
    sources = decoy_sources(len(genes), ratio, rng)
    copy = np.zeros(len(genes), dtype=np.int64)
    names = []
    for j in sources:
        names.append(f"{DECOY_PREFIX}{copy[j]}__{genes[j]}")
        copy[j] += 1
    tensors = {}
    for split, (x, y) in _splits(datamodule).items():
        values = x[:, sources].numpy()
        # argsort of uniform noise: an independent permutation of the rows for every column
        rows = np.argsort(rng.random(values.shape), axis=0)
        decoys = torch.from_numpy(np.take_along_axis(values, rows, axis=0))
        tensors[split] = (torch.cat([x, decoys], dim=1), y)
    view = DataView(
        tensors, datamodule.split_index, genes + names, datamodule.class_names, datamodule.batch_size,
        f"{datamodule.name} (with decoys)",
    )
    return view, sources
