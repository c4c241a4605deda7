"""Is a pure-Python limma-voom close enough to R's to be offered? pylimma against limma, same inputs.

genexai offers a pure-Python engine only if it reproduces R's (the R engines match direct R
runs to 1e-10). pylimma has ``voom``/``lmFit``/``eBayes`` but not edgeR's ``filterByExpr``
and TMM, so both sides get R's filtered genes and effective library sizes; only voom +
lmFit + eBayes + topTable are compared (``~condition``, t and p of the condition
coefficient, time of those steps). (inmoose 0.9.1's edgepy lacks ``filterByExpr``,
``calcNormFactors`` and ``estimateDisp``, so edgeR's QL pipeline cannot be run with it.)

Two phases, because pylimma (GPL-3.0, not a genexai dependency) lives in its own venv:

    .venv/bin/python benchmarks/pure_python_voom.py r pasilla tcga_brca_paired      # R side (make install-r)
    python -m venv /tmp/pyde && /tmp/pyde/bin/pip install pylimma==0.2.0 pandas
    /tmp/pyde/bin/python benchmarks/pure_python_voom.py python pasilla tcga_brca_paired
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
WORK = ROOT / "benchmarks" / "results" / "pure_python_voom"

R_STEPS = """suppressPackageStartupMessages({library(edgeR); library(limma)})
X <- cbind(1, g); y <- DGEList(counts); keep <- filterByExpr(y, design = X); y <- y[keep, , keep.lib.sizes = FALSE]
y <- calcNormFactors(y); eff <- y$samples$lib.size * y$samples$norm.factors
started <- Sys.time(); v <- voom(y, X); fit <- eBayes(lmFit(v, X)); tt <- topTable(fit, coef = 2, number = Inf, sort.by = "none")
r_seconds <- as.numeric(Sys.time() - started, units = "secs")"""


def r_side(name: str) -> None:
    import rpy2.robjects as ro
    from rpy2.robjects import numpy2ri
    from rpy2.robjects.conversion import localconverter

    reference = yaml.safe_load((ROOT / "configs" / "data" / f"{name}.yaml").read_text())["reference_level"]
    counts = pd.read_csv(DATA / name / "counts.csv.gz", index_col=0)
    group = (pd.read_csv(DATA / name / "metadata.csv", index_col=0).loc[counts.index, "condition"] != reference).astype(float)
    with localconverter(ro.default_converter + numpy2ri.converter):
        ro.globalenv["counts"] = counts.to_numpy().T.astype(float)
        ro.globalenv["g"] = group.to_numpy()
        ro.r(R_STEPS)
        keep = np.asarray(ro.r("keep"), dtype=bool)
        out = {key: np.asarray(ro.r(expr)) for key, expr in
               (("eff", "eff"), ("t", "tt$t"), ("p", "tt$P.Value"), ("r_seconds", "r_seconds"))}  # fmt: skip
    WORK.mkdir(parents=True, exist_ok=True)
    np.savez(WORK / f"{name}.npz", counts=counts.to_numpy().T[keep], group=group.to_numpy(), **out)
    print(f"{name}: {keep.sum()} genes kept; R voom + lmFit + eBayes {float(out['r_seconds'][0]):.2f} s")


def python_side(name: str) -> None:
    import pylimma

    data = np.load(WORK / f"{name}.npz")
    design = np.column_stack([np.ones(len(data["group"])), data["group"]])
    started = time.perf_counter()
    fit = pylimma.e_bayes(pylimma.lm_fit(pylimma.voom(data["counts"].astype(float), design, lib_size=data["eff"]), design))
    table = pylimma.top_table(fit, coef=1, number=10**9, sort_by="none")
    seconds = time.perf_counter() - started
    rel_t = np.abs(table["t"].to_numpy() - data["t"]) / np.abs(data["t"])
    rel_p = np.abs(table["p_value"].to_numpy() - data["p"]) / data["p"]
    print(f"{name}: pylimma {seconds:.1f} s vs R {float(data['r_seconds'][0]):.2f} s; relative difference of t: median "
          f"{np.median(rel_t):.2g}, max {rel_t.max():.2g}; of p: median {np.median(rel_p):.2g}, max {rel_p.max():.2g}")


if __name__ == "__main__":
    phase, names = sys.argv[1], sys.argv[2:]
    for dataset in names:
        (r_side if phase == "r" else python_side)(dataset)
