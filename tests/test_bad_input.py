"""The bad-input catalogue: every entry point answers bad input with one line and exit status 2.

Each case runs the real ``train.py`` / ``evaluate.py`` script in this process (as
``__main__``, with ``sys.argv`` set), which exercises the same code path as the shell
while keeping the suite fast; ``tests/test_train.py`` runs two cases in a subprocess
to check the exit status the shell sees.
"""

from __future__ import annotations

import gzip
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

ROOT = Path(__file__).resolve().parents[1]


def run_script(script: str, args: list[str], capsys, monkeypatch) -> tuple[int, str]:
    """Run ``<script>.py args`` as ``__main__``; return its exit status and stderr."""
    monkeypatch.setattr(sys, "argv", [str(ROOT / f"{script}.py"), *args])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.delenv("GENEXAI_VERBOSE", raising=False)
    GlobalHydra.instance().clear()
    code = 0
    try:
        runpy.run_path(str(ROOT / f"{script}.py"), run_name="__main__")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
    return code, capsys.readouterr().err


def one_error_line(stderr: str) -> str:
    """The single ``genexai error:`` line; fails on a traceback or on several error lines."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("genexai error:")]
    assert len(lines) == 1, stderr
    return lines[0]


# ---------------------------------------------------------------------------------- data files

def _counts(n_samples: int = 12, n_genes: int = 40) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    samples = [f"s{i}" for i in range(n_samples)]
    counts = pd.DataFrame(rng.poisson(80, (n_samples, n_genes)), index=samples, columns=[f"g{j}" for j in range(n_genes)])
    meta = pd.DataFrame({"condition": ["ctl", "trt"] * (n_samples // 2)}, index=samples)
    return counts, meta


def _write(tmp: Path, counts: pd.DataFrame, meta: pd.DataFrame) -> list[str]:
    counts_path, meta_path = tmp / "counts.csv", tmp / "metadata.csv"
    counts.to_csv(counts_path, index_label="sample")
    meta.to_csv(meta_path, index_label="sample")
    return [f"data.adata.counts_path={counts_path}", f"data.adata.metadata_path={meta_path}"]


def _edit_counts(edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        counts, meta = _counts()
        return _write(tmp, edit(counts.astype(float)), meta)
    return make


def _edit_meta(edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        counts, meta = _counts()
        return _write(tmp, counts, edit(meta.copy()))
    return make


def _raw_counts_file(text: str | bytes, name: str = "counts.csv") -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        args = _write(tmp, *_counts())
        path = tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return [f"data.adata.counts_path={path}", args[1]]
    return make


def _set(frame: pd.DataFrame, row: int, col: int, value: float) -> pd.DataFrame:
    frame.iloc[row, col] = value
    return frame


def _transposed(tmp: Path) -> list[str]:
    counts, meta = _counts()
    return _write(tmp, counts.T.rename_axis("sample"), meta)


def _truncated_gzip(tmp: Path) -> list[str]:
    counts, meta = _counts()
    path = tmp / "counts.csv.gz"
    path.write_bytes(gzip.compress(counts.to_csv(index_label="sample").encode())[:80])
    return [f"data.adata.counts_path={path}", _write(tmp, counts, meta)[1]]


def _semicolons(tmp: Path) -> list[str]:
    counts, meta = _counts()
    args = _write(tmp, counts, meta)
    counts.to_csv(tmp / "counts.csv", sep=";", index_label="sample")
    return args


def _h5ad_counts_in_layer(tmp: Path) -> list[str]:
    counts, meta = _counts()
    adata = ad.AnnData(X=np.log1p(counts.to_numpy(float)), obs=meta, layers={"counts": counts.to_numpy()})
    adata.write_h5ad(tmp / "data.h5ad")
    return ["data=h5ad", f"data.adata.path={tmp / 'data.h5ad'}"]


#: case -> (how to make the command-line arguments, words the error line must contain)
DATA_CASES: dict[str, tuple[Callable[[Path], list[str]], tuple[str, ...]]] = {
    "malformed_csv": (_raw_counts_file("sample,g0,g1\ns0,1,2\ns1,1,2,3,4\n"), ("counts.csv", "malformed")),
    "truncated_gzip": (_truncated_gzip, ("counts.csv.gz", "truncated")),
    "wrong_delimiter": (_semicolons, ("counts.csv", "single column")),
    "transposed": (_transposed, ("counts.csv", "transposed")),
    "fractional_counts": (_edit_counts(lambda c: _set(c, 0, 0, 2.5)), ("counts.csv", "raw integers")),
    "negative_counts": (_edit_counts(lambda c: _set(c, 1, 2, -3)), ("counts.csv", "negative")),
    "nan_counts": (_edit_counts(lambda c: _set(c, 2, 3, np.nan)), ("counts.csv", "NaN/inf")),
    "inf_counts": (_edit_counts(lambda c: _set(c, 2, 3, np.inf)), ("counts.csv", "NaN/inf")),
    "empty_file": (_raw_counts_file(""), ("counts.csv", "empty")),
    "header_only": (_raw_counts_file("sample,g0,g1\n"), ("counts.csv", "no rows")),
    "duplicated_sample": (_edit_counts(lambda c: c.set_axis(["s1", *c.index[1:]], axis=0)), ("duplicated sample ID",)),
    "duplicated_gene": (_edit_counts(lambda c: c.set_axis(["g1", *c.columns[1:]], axis=1)), ("duplicated gene ID",)),
    "metadata_missing_samples": (_edit_meta(lambda m: m.drop(index=["s3"])), ("have no metadata row",)),
    "one_condition_level": (_edit_meta(lambda m: m.assign(condition="ctl")), ("one level only",)),
    # Three levels are fine (multi-class); a third level with too few samples to train on is not.
    "third_level_too_small": (_edit_meta(lambda m: _set(_set(m, 0, 0, "x"), 2, 0, "x")), ("class 'x'", "too few samples")),
    "h5ad_counts_in_layer": (_h5ad_counts_in_layer, ("data.h5ad", "layer")),
    "missing_file": (lambda tmp: [f"data.adata.counts_path={tmp / 'nope.csv'}", f"data.adata.metadata_path={tmp / 'm.csv'}"],
                     ("nope.csv", "not found")),
    "required_path_unset": (lambda tmp: [], ("data.adata.counts_path", "has no value")),
    "no_gene_left_after_filtering": (lambda tmp: ["data=simulated", "data.min_count=1000000000"],
                                     ("simulated", "no gene is left after filtering", "data.min_count")),
}

CONFIG_CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "unknown_key": (["data.n_gene=10"], ("data.n_gene", "+data.n_gene")),
    "unknown_model": (["model=resnet"], ("model/resnet", "Available options", "transformer")),
    "unknown_dataset": (["data=tcga"], ("data/tcga", "tcga_brca_paired")),
    "unparsable_override": (["seed=[1"], ("seed=[1", "key=value")),
    "sweep_without_multirun": (["seed=1,2"], ("seed=1,2", "--multirun")),
    "bad_reference_level": (["data.reference_level=Z"], ("reference level 'Z'", "data.reference_level")),
    "bad_de_genes_option": (["evaluate=true", "de.genes=some", "trainer.fast_dev_run=true"], ("de.genes",)),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_train_refuses_bad_data_in_one_line(case, tmp_path, capsys, monkeypatch):
    make_args, words = DATA_CASES[case]
    args = make_args(tmp_path)
    if not any(arg.startswith("data=") for arg in args):
        args = ["data=csv", *args]
    code, stderr = run_script("train", [*args, f"paths.log_dir={tmp_path / 'logs'}", "logger=none"], capsys, monkeypatch)
    line = one_error_line(stderr)
    assert code == 2, stderr
    for word in words:
        assert word in line, line


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_train_refuses_bad_configuration_in_one_line(case, tmp_path, capsys, monkeypatch):
    args, words = CONFIG_CASES[case]
    code, stderr = run_script("train", [*args, f"paths.log_dir={tmp_path}", "logger=none"], capsys, monkeypatch)
    line = one_error_line(stderr)
    assert code == 2, stderr
    for word in words:
        assert word in line, line


def test_verbose_mode_shows_the_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(ROOT / "train.py"), "data=simulated", "data.min_count=1000000000",
                                      f"paths.log_dir={tmp_path}", "logger=none"])
    monkeypatch.setenv("GENEXAI_VERBOSE", "1")
    GlobalHydra.instance().clear()
    with pytest.raises(SystemExit) as stop:  # Hydra prints the traceback and exits 1
        runpy.run_path(str(ROOT / "train.py"), run_name="__main__")
    GlobalHydra.instance().clear()
    assert stop.value.code == 1
    assert "DataError" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- evaluate.py

@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory) -> Path:
    """A tiny trained MLP run on simulated data (two epochs)."""
    from genexai.pipeline.train import train
    from tests.conftest import compose_config

    out = tmp_path_factory.mktemp("mlp_run")
    cfg = compose_config("train", [
        "logger=none", "trainer.max_epochs=2", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false",
        "attribution=none", "data.adata.n_samples=40", "data.adata.n_genes=200", "data.n_genes=50",
    ], out)
    train(cfg)
    GlobalHydra.instance().clear()
    return out


def _evaluate(args: list[str], tmp_path: Path, capsys, monkeypatch) -> str:
    code, stderr = run_script("evaluate", [*args, f"paths.log_dir={tmp_path}", "de.genes=model"], capsys, monkeypatch)
    line = one_error_line(stderr)
    assert code == 2, stderr
    return line


def test_evaluate_refuses_a_directory_that_is_not_a_run(tmp_path, capsys, monkeypatch):
    line = _evaluate([f"run_dir={tmp_path}"], tmp_path, capsys, monkeypatch)
    assert "not a genexai training run" in line and str(tmp_path) in line


def test_evaluate_refuses_a_truncated_checkpoint(mlp_run, tmp_path, capsys, monkeypatch):
    broken = tmp_path / "checkpoints" / "best.ckpt"
    broken.parent.mkdir()
    broken.write_bytes((mlp_run / "checkpoints" / "best.ckpt").read_bytes()[:500])
    line = _evaluate([f"run_dir={mlp_run}", f"ckpt_path={broken}"], tmp_path, capsys, monkeypatch)
    assert str(broken) in line and "not a readable" in line


def test_evaluate_refuses_a_checkpoint_of_another_model(mlp_run, tmp_path, capsys, monkeypatch):
    state = torch.load(mlp_run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    state["state_dict"] = {f"other.{k}": v for k, v in state["state_dict"].items()}
    other = tmp_path / "other.ckpt"
    torch.save(state, other)
    line = _evaluate([f"run_dir={mlp_run}", f"ckpt_path={other}"], tmp_path, capsys, monkeypatch)
    assert str(other) in line and "another model" in line


def test_evaluate_refuses_a_checkpoint_of_another_gene_set(mlp_run, tmp_path, capsys, monkeypatch):
    state = torch.load(mlp_run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    state["hyper_parameters"]["gene_names"] = [f"x{i}" for i in range(50)]
    other = tmp_path / "genes.ckpt"
    torch.save(state, other)
    line = _evaluate([f"run_dir={mlp_run}", f"ckpt_path={other}"], tmp_path, capsys, monkeypatch)
    assert "different gene set" in line


def test_evaluate_refuses_unknown_keys(tmp_path, capsys, monkeypatch):
    line = _evaluate(["run_dri=x"], tmp_path, capsys, monkeypatch)
    assert "run_dri" in line
