"""Data layer: read counts into AnnData, validate, split, preprocess, serve batches."""

from genexai.data.datamodule import RNASeqDataModule
from genexai.data.io import read_counts_csv, read_h5ad
from genexai.data.preprocess import Preprocessor
from genexai.data.split import stratified_split
from genexai.data.validate import validate_adata

__all__ = [
    "RNASeqDataModule",
    "Preprocessor",
    "read_counts_csv",
    "read_h5ad",
    "stratified_split",
    "validate_adata",
]
