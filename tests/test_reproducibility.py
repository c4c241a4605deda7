"""Same config + seed → the same files; every run dir says what produced it."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from genexai.pipeline.train import train
from genexai.utils.provenance import PROVENANCE_FILE
from tests.conftest import compose_config

#: Files a run writes whose bytes must not depend on anything but config and seed.
DETERMINISTIC_FILES = (
    "splits.csv",
    "importance.csv",
    "evaluation/de.csv",
    "evaluation/comparison.csv",
)

#: metrics.json entries that legitimately differ between two runs: wall times and paths.
RUN_SPECIFIC = re.compile(r"(time_s|seconds|times|time \(s\)|rss_mib)$|checkpoint|report|run_dir")


def _run(out: Path, extra: list[str] = ()) -> dict:
    cfg = compose_config("train", [
        "logger=none", "trainer.max_epochs=3", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false",
        "data.adata.n_samples=60", "data.adata.n_genes=300", "data.n_genes=100",
        "attribution=default", "attribution.methods=[{name: integrated_gradients}, {name: saliency}]",
        "evaluate=true", "de.genes=model", *extra,
    ], out)
    with_cache = dict(cfg.de)
    assert with_cache["cache_dir"].startswith(str(out))  # each run fits DESeq2 itself: nothing is shared
    return train(cfg)


def _comparable(metrics: dict) -> dict:
    return {k: _comparable(v) if isinstance(v, dict) else v for k, v in metrics.items() if not RUN_SPECIFIC.search(k)}


def test_same_config_and_seed_give_identical_files(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    metrics = [_run(first), _run(second)]
    assert json.dumps(_comparable(metrics[0]), sort_keys=True) == json.dumps(_comparable(metrics[1]), sort_keys=True)
    for name in DETERMINISTIC_FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    for name in ("metrics.json", "evaluation/comparison.json"):  # the same but for wall times
        on_disk = [json.loads((run / name).read_text()) for run in (first, second)]
        assert _comparable(on_disk[0]) == _comparable(on_disk[1]), name

    # the comparison is not vacuous: another seed changes the model and so its attributions
    other = _run(tmp_path / "seed1", ["seed=1"])
    assert (tmp_path / "seed1" / "importance.csv").read_bytes() != (first / "importance.csv").read_bytes()
    # ... and every check above can see it: the metrics and the comparison table differ too
    assert _comparable(other) != _comparable(metrics[0])
    comparison = "evaluation/comparison.csv"
    assert (tmp_path / "seed1" / comparison).read_bytes() != (first / comparison).read_bytes()


def test_run_dir_records_versions_commit_and_data_hashes(tmp_path):
    rng = np.random.default_rng(0)
    samples = [f"s{i}" for i in range(24)]
    counts = pd.DataFrame(rng.poisson(60, (24, 80)), index=samples, columns=[f"g{j}" for j in range(80)])
    meta = pd.DataFrame({"condition": ["a", "b"] * 12}, index=samples)
    counts_path, meta_path = tmp_path / "counts.csv", tmp_path / "meta.csv"
    counts.to_csv(counts_path, index_label="sample")
    meta.to_csv(meta_path, index_label="sample")
    out = tmp_path / "run"
    cfg = compose_config("train", [
        "logger=none", "trainer.fast_dev_run=true", "~callbacks.rich_progress_bar", "attribution=none",
        "data=csv", f"data.adata.counts_path={counts_path}", f"data.adata.metadata_path={meta_path}", "data.n_genes=20",
    ], out)
    train(cfg)
    record = json.loads((out / PROVENANCE_FILE).read_text())
    assert {"torch", "pydeseq2", "numpy", "genexai", "pytorch-lightning"} <= set(record["packages"])
    commit = record["git"]["commit"]
    assert commit is None or len(commit) == 40  # None only when running from outside a git checkout
    files = record["data_files"]
    assert set(files) == {str(counts_path.resolve()), str(meta_path.resolve())}
    assert files[str(counts_path.resolve())]["sha256"] == hashlib.sha256(counts_path.read_bytes()).hexdigest()
