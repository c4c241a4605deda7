"""Small simulated runs for the significance tests: 60 samples x 200 genes, cheap models."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from genexai.pipeline.build import build_datamodule
from genexai.pipeline.train import train
from tests.conftest import compose_config

#: 60 samples x 200 genes; planted genes (if any) with |log2FC| ~ 1.5.
SMALL = ["data.adata.n_samples=60", "data.adata.n_genes=200", "data.n_genes=200", "data.adata.lfc_mean=1.5"]
#: Ridge (L2) logistic regression through the logreg_l1 config (l1_ratio=0): dense coefficients,
#: milliseconds per fit, so B = 100-200 null models take seconds. (The lasso's exact zeros make
#: its importances tie; its null coefficients are as large as its observed ones when n << p.)
RIDGE = ["model=logreg_l1", "model.estimator.l1_ratio=0", "model.estimator.C=0.1", "model.importance_methods=[coefficients,coef_x_input]"]
#: The default MLP (256-64; a much narrower one gives noisier, init-dominated gradients) and two cheap gradient methods.
MLP = ["model=mlp", "attribution.methods=[{name: saliency}, {name: integrated_gradients, n_steps: 8}]"]
QUIET = ["logger=none", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false"]


def run_small(out: Path, de_fraction: float, overrides: list[str]) -> tuple[pd.DataFrame, dict, set[str]]:
    """Train on the small simulated data; return the importance table, the metrics and the planted genes."""
    cfg = compose_config("train", [*QUIET, *SMALL, f"data.adata.de_fraction={de_fraction}", *overrides], out)
    metrics = train(cfg)
    var = build_datamodule(cfg).adata.var
    planted = set(var.index[var["is_de"].astype(bool)])
    return pd.read_parquet(out / "importance.parquet"), metrics, planted


def fdp_and_power(table: pd.DataFrame, planted: set[str], alpha: float) -> tuple[int, float, float]:
    """Number called at q < alpha, realised false discovery proportion and power."""
    called = set(table.loc[table["qvalue"] < alpha, "gene"])
    true_calls = len(called & planted)
    return len(called), (len(called) - true_calls) / max(1, len(called)), true_calls / max(1, len(planted))


@pytest.fixture
def small_run(tmp_path):
    return lambda de_fraction, overrides: run_small(tmp_path, de_fraction, overrides)
