"""`benchmarks/significance_spikein.py`: runs, collates one table with DESeq2, resumes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "data.adata.n_samples=60", "data.adata.n_genes=200", "data.adata.de_fraction=0.1", "data.adata.lfc_mean=1.5",
    "de.genes=model",
]  # fmt: skip


def run_script(out: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable, str(ROOT / "benchmarks" / "significance_spikein.py"), "--data", "simulated",
        "--n-genes", "100", "--n-permutations", "40", "--decoy-ratio", "2", "--only", "ridge_permutation",
        "ridge_decoy", "--replicates", "2", "--out", str(out), "--extra", *SMALL,
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # 6 train.py subprocesses, ~60 s
def test_replicates_table_has_deseq2_and_every_method_with_fdp_and_power_then_resumes(tmp_path):
    done = run_script(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_csv(tmp_path / "significance_spikein.csv")
    # Same samples in every run of a replicate: one DESeq2 row (all genes) per replicate.
    assert table.loc[table["method"] == "deseq2", "replicate"].tolist() == [0, 1]
    # Each replicate is a new dataset (data.adata.seed): different planted genes, so different truths.
    assert table.groupby("replicate")["n_true_tested"].first().nunique() > 1 or (
        table.groupby("replicate")["n_called"].sum().nunique() > 1
    )
    summary = pd.read_csv(tmp_path / "significance_spikein_summary.csv")
    assert (summary["n_replicates"] == 2).all() and summary["se_fdp"].notna().all()
    assert {"deseq2", "deseq2_model_genes"} <= set(summary["method"])
    table = table[table["replicate"] == 0]
    ml = table[table["model"] == "ridge"]
    assert set(zip(ml["method"], ml["significance"])) == {
        (method, kind) for method in ("coefficients", "coef_x_input") for kind in ("permutation", "decoy")
    }
    assert table[["fdp", "power"]].notna().all().all()
    assert ((table["fdp"] >= 0) & (table["fdp"] <= 1)).all()
    deseq2 = table.set_index("method").loc["deseq2"]
    assert deseq2["true_calls"] > 0 and deseq2["n_called"] == deseq2["true_calls"] + deseq2["false_calls"]
    # A second call reuses the finished runs instead of retraining.
    again = run_script(tmp_path)
    assert again.returncode == 0 and again.stdout.count("reusing") == 4
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "significance_spikein_summary.csv"), summary)
