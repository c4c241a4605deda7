"""Speed and agreement of DESeq2 with the torch inference vs PyDESeq2's default inference.

For each dataset (simulated ``NxG`` sizes from ``genexai.datasets.simulate.simulate_counts``
and real datasets under the data root, each with its config's design and reference
level) and each CPU count ``c``: PyDESeq2's ``DefaultInference(n_cpus=c)`` then
``TorchInference(n_cpus=c)`` (``c`` torch threads), back to back, ``--repeats`` times.
Both run through :func:`genexai.de.fit_deseq2` (same pipeline, BLAS limited to one
thread by threadpoolctl; the default engine's ``c`` joblib workers get one thread each).
Reported: median wall time of each engine, the median of the per-repeat ratios
(load drift on a shared machine hits both runs of a pair alike), the torch run's
time inside its Inference methods (the rest is PyDESeq2's own pipeline), and the
agreement of the first repeat's tables (:mod:`genexai.de.agreement`): max relative
error of log2FoldChange / pvalue / padj over genes whose default padj is not NaN,
the number of genes outside ``|a-b| <= 0.02|b| + 1e-12``, and whether the rule holds
for all genes and for the genes where PyDESeq2's own optimisers converged. By default
(``--no-prior-fallback`` skips it) one more default fit, with the prior kept where
PyDESeq2's MAP dispersion fit falls back to a grid search
(:class:`genexai.de.agreement.PriorFallbackInference`; PyDESeq2 0.5.4 drops it there, R's
DESeq2 keeps it), and the agreement of torch with that fit on every gene.

``--noise-floor`` adds one default run whose intermediate means (``lin_reg_mu`` /
``irls`` outputs) are multiplied by ``1 + u * 1e-13`` (``u`` uniform in [-1, 1]), a
change far below any statistical meaning, e.g. what another BLAS could produce; its
disagreement with the unperturbed default is PyDESeq2's own reproducibility floor.

    python benchmarks/de_speed.py                                   # defaults below, ~30 min
    python benchmarks/de_speed.py --sizes 200x20000 --datasets pasilla --repeats 3 --cpus 1 2
    python benchmarks/de_speed.py --sizes --datasets airway yeast_snf2 --repeats 1 --noise-floor
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from pydeseq2.default_inference import DefaultInference
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from genexai.datasets.simulate import simulate_counts
from genexai.de import fit_deseq2
from genexai.de.agreement import COLUMNS, PriorFallbackInference, agreement, unconverged_genes
from genexai.de.torch import TorchInference
from genexai.utils.files import atomic_write

ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = ROOT.parent / "shared" / "data"
INFERENCE_METHODS = (
    "lin_reg_mu", "irls", "alpha_mle", "wald_test", "fit_rough_dispersions",
    "fit_moments_dispersions", "dispersion_trend_gamma_glm", "lfc_shrink_nbinom_glm",
)  # fmt: skip


class PerturbedDefaultInference(DefaultInference):
    """PyDESeq2's DefaultInference with its fitted means changed in the 13th digit."""

    def __init__(self, *args, scale: float = 1e-13, seed: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._scale, self._rng = scale, np.random.default_rng(seed)

    def _perturb(self, mu: np.ndarray) -> np.ndarray:
        return mu * (1.0 + self._scale * self._rng.uniform(-1.0, 1.0, mu.shape))

    def lin_reg_mu(self, *args, **kwargs):
        return self._perturb(super().lin_reg_mu(*args, **kwargs))

    def irls(self, *args, **kwargs):
        beta, mu, hat, converged = super().irls(*args, **kwargs)
        return beta, self._perturb(mu), hat, converged


def time_inside(inference) -> dict[str, float]:
    """Wrap the inference object's methods (this object only) to accumulate their wall time."""
    spent = {"total": 0.0}
    for name in INFERENCE_METHODS:
        method = getattr(inference, name)

        def timed(*args, _method=method, **kwargs):
            started = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent["total"] += time.perf_counter() - started

        setattr(inference, name, timed)
    return spent


def load_dataset(name: str, data_root: Path) -> dict:
    """Counts, metadata, design and reference level of a simulated size or a real dataset."""
    if "x" in name and name.replace("x", "").isdigit():
        n_samples, n_genes = (int(v) for v in name.split("x"))
        adata = simulate_counts(n_samples=n_samples, n_genes=n_genes, seed=0)
        counts = pd.DataFrame(adata.X, index=adata.obs_names, columns=adata.var_names)
        return {"name": f"simulated_{name}", "counts": counts, "metadata": adata.obs[["condition"]],
                "design": "~condition", "ref_level": "A"}  # fmt: skip
    folder = data_root / name
    config = yaml.safe_load((ROOT / "configs" / "data" / f"{name}.yaml").read_text())
    counts = pd.read_csv(folder / "counts.csv.gz", index_col="sample")
    metadata = pd.read_csv(folder / "metadata.csv", index_col="sample")
    return {"name": name, "counts": counts, "metadata": metadata, "design": config.get("design", "~condition"),
            "ref_level": config.get("reference_level")}  # fmt: skip


def fit(data: dict, inference) -> tuple[pd.DataFrame, object, float]:
    """PyDESeq2's steps (``pipeline="pydeseq2"``), where every solver is the inference engine's."""
    started = time.perf_counter()
    table, dds = fit_deseq2(
        data["counts"], data["metadata"], design=data["design"], ref_level=data["ref_level"], inference=inference,
        pipeline="pydeseq2",
    )  # fmt: skip
    return table, dds, time.perf_counter() - started


def benchmark(data: dict, cpus: int, args: argparse.Namespace, progress: Progress, task) -> dict:
    default_s, torch_s, ratios, inside = [], [], [], []
    tables = {}
    for repeat in range(args.repeats):
        progress.update(task, description=f"{data['name']} cpus={cpus} repeat {repeat + 1}: default")
        table, dds, seconds = fit(data, DefaultInference(n_cpus=cpus))
        default_s.append(seconds)
        if repeat == 0:
            tables["default"], failed = table, unconverged_genes(dds)
        progress.update(task, description=f"{data['name']} cpus={cpus} repeat {repeat + 1}: torch")
        engine = TorchInference(device=args.device, n_cpus=cpus)
        spent = time_inside(engine)
        table, _, seconds = fit(data, engine)
        torch_s.append(seconds)
        inside.append(spent["total"])
        ratios.append(default_s[-1] / seconds)
        if repeat == 0:
            tables["torch"], fallbacks = table, dict(engine.fallbacks_total)
        progress.advance(task)
    counts = data["counts"]
    row = {
        "dataset": data["name"], "n_samples": counts.shape[0], "n_genes": counts.shape[1], "cpus": cpus,
        "device": args.device, "repeats": args.repeats,
        "default_s": statistics.median(default_s), "torch_s": statistics.median(torch_s),
        "speedup": statistics.median(ratios), "torch_inference_s": statistics.median(inside),
        "default_runs_s": " ".join(f"{s:.2f}" for s in default_s), "torch_runs_s": " ".join(f"{s:.2f}" for s in torch_s),
    }  # fmt: skip
    full = agreement(tables["torch"], tables["default"])
    converged = agreement(tables["torch"], tables["default"], exclude=failed)
    row["genes_compared"] = full["genes"]
    for column in COLUMNS:
        row[f"max_rel_{column}"] = full[f"max_rel_{column}"]
        row[f"n_over_{column}"] = full[f"n_over_{column}"]
    row["agree"] = full["agree"]
    row["pydeseq2_unconverged"] = len(failed)
    row["agree_converged"] = converged["agree"]
    row["max_rel_pvalue_converged"] = converged["max_rel_pvalue"]
    row["torch_per_gene_fallbacks"] = sum(fallbacks.values())
    if args.prior_fallback:
        progress.update(task, description=f"{data['name']}: default with the prior kept in its MAP fallback")
        fixed, fixed_dds, _ = fit(data, PriorFallbackInference(n_cpus=cpus))
        versus_fixed = agreement(tables["torch"], fixed)
        row["map_fallback_genes"] = int((~fixed_dds.var["_MAP_converged"].fillna(True).astype(bool)).sum())
        for column in COLUMNS:
            row[f"prior_fallback_max_rel_{column}"] = versus_fixed[f"max_rel_{column}"]
            row[f"prior_fallback_n_over_{column}"] = versus_fixed[f"n_over_{column}"]
        row["agree_prior_fallback"] = versus_fixed["agree"]
    if args.noise_floor:
        progress.update(task, description=f"{data['name']}: default, means perturbed by 1e-13")
        perturbed, _, _ = fit(data, PerturbedDefaultInference(n_cpus=cpus))
        floor = agreement(perturbed, tables["default"])
        for column in COLUMNS:
            row[f"floor_max_rel_{column}"] = floor[f"max_rel_{column}"]
            row[f"floor_n_over_{column}"] = floor[f"n_over_{column}"]
        row["floor_agree"] = floor["agree"]
    return row


def show(rows: list[dict], console: Console) -> None:
    table = Table(title="DESeq2: torch vs PyDESeq2 default inference (median wall seconds)")
    for column in ("dataset", "n", "genes", "cpus", "default_s", "torch_s", "speedup", "torch inference_s",
                   "max rel lfc", "max rel p", "max rel padj", "genes cmp", "n over lfc/p/padj", "agree",
                   "agree (converged)", "agree (prior fallback)", "noise floor n over p/padj"):  # fmt: skip
        table.add_column(column, justify="right")
    for r in rows:
        floor = f"{r['floor_n_over_pvalue']}/{r['floor_n_over_padj']}" if "floor_agree" in r else "-"
        fixed = "-"
        if "agree_prior_fallback" in r:
            fixed = (f"{'yes' if r['agree_prior_fallback'] else 'no'} "
                     f"(max rel p {r['prior_fallback_max_rel_pvalue']:.2g})")  # fmt: skip
        table.add_row(
            r["dataset"], str(r["n_samples"]), str(r["n_genes"]), str(r["cpus"]), f"{r['default_s']:.1f}",
            f"{r['torch_s']:.2f}", f"{r['speedup']:.1f}x", f"{r['torch_inference_s']:.2f}",
            f"{r['max_rel_log2FoldChange']:.2g}", f"{r['max_rel_pvalue']:.2g}", f"{r['max_rel_padj']:.2g}",
            str(r["genes_compared"]),
            f"{r['n_over_log2FoldChange']}/{r['n_over_pvalue']}/{r['n_over_padj']}",
            "yes" if r["agree"] else "no",
            f"{'yes' if r['agree_converged'] else 'no'} ({r['pydeseq2_unconverged']} excl.)",
            fixed,
            floor,
        )  # fmt: skip
    console.print(table)


def write_csv(rows: list[dict], path: Path) -> None:
    fields = list(dict.fromkeys(key for row in rows for key in row))

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", default=["200x20000", "1000x20000"], help="simulated NxG")
    parser.add_argument(
        "--datasets", nargs="*",
        default=["pasilla", "airway", "yeast_snf2", "gtex_brain_acc_fc", "geuvadis_sex"],
        help="real datasets under --data-root (montpick, tcga_brca_paired also work)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="back-to-back default+torch pairs; medians reported")
    parser.add_argument("--cpus", type=int, nargs="+", default=[1], help="n_cpus of the default engine = torch threads")
    parser.add_argument("--device", default="cpu", help="torch engine device: cpu | cuda | auto")
    parser.add_argument("--noise-floor", action="store_true", help="also run a 1e-13-perturbed default fit")
    parser.add_argument(
        "--prior-fallback", action=argparse.BooleanOptionalAction, default=True,
        help="also fit the default engine with the prior kept in its MAP grid fallback (one more run)",
    )  # fmt: skip
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "de_speed.csv")
    args = parser.parse_args()

    console = Console(width=220)
    names = [*args.sizes, *args.datasets]
    rows: list[dict] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("loading", total=len(names) * len(args.cpus) * args.repeats)
        for name in names:
            progress.update(task, description=f"loading {name}")
            data = load_dataset(name, args.data_root)
            for cpus in args.cpus:
                rows.append(benchmark(data, cpus, args, progress, task))
                write_csv(rows, args.out)  # keep what is done if a later dataset fails
                progress.console.print(
                    f"{rows[-1]['dataset']} cpus={cpus}: default {rows[-1]['default_s']:.1f}s, "
                    f"torch {rows[-1]['torch_s']:.2f}s, {rows[-1]['speedup']:.1f}x, agree={rows[-1]['agree']}"
                )
    show(rows, console)
    console.print(f"torch {torch.__version__}, threads per engine = cpus; CSV: {args.out}")


if __name__ == "__main__":
    main()
