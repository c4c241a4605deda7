"""R's engines through genexai (rpy2) against direct R runs of the same packages.

The fixtures in ``tests/fixtures/r`` were written by ``make_r_fixtures.R``: DESeq2, edgeR's
quasi-likelihood pipeline and limma-voom as their user guides run them, with no genexai
code. genexai must reproduce them to 1e-10 (relative) with the same NaN pattern. Without R
these tests skip locally and fail under ``CI=true`` (CI installs R: ``make install-r``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from genexai.de.dispatch import build_de_method
from genexai.errors import ConfigError
from tests.conftest import real_data, require_r_engines

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "r"
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "de"
SETS = {
    "pasilla": ("~condition", "untreated"),
    "tcga_brca_paired": ("~patient + condition", "normal"),
}
ENGINES = {"deseq2": {"inference": "r"}, "edger": {}, "limma_voom": {}}


def shipped_config(name: str, **overrides) -> dict:
    """``configs/de/<name>.yaml`` as a user gets it, without the cache (no interpolation needed)."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONFIGS / f"{name}.yaml"), resolve=False)
    cfg.pop("cache_dir", None)
    return {**cfg, **overrides}


def fixture_inputs(dataset: str, genes: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts_path, metadata_path = real_data(dataset)
    counts = pd.read_csv(counts_path, index_col=0)
    return counts.loc[:, genes], pd.read_csv(metadata_path, index_col=0)


@pytest.mark.parametrize(
    "dataset",
    ["pasilla", pytest.param("tcga_brca_paired", marks=pytest.mark.slow)],
)
@pytest.mark.parametrize("engine", list(ENGINES))
def test_r_engines_reproduce_direct_r_runs(dataset: str, engine: str) -> None:
    require_r_engines()
    expected = pd.read_csv(FIXTURES / f"{dataset}_{engine}.csv.gz", index_col=0)
    counts, metadata = fixture_inputs(dataset, expected.index)
    design, reference = SETS[dataset]
    method = build_de_method(shipped_config(engine, **ENGINES[engine]))
    table, hit = method.test(counts, metadata, design=design, ref_level=reference)
    assert not hit
    assert table.index.equals(expected.index)
    for column in expected.columns:
        got, want = table[column].to_numpy(), expected[column].to_numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{engine} {column}: NaN pattern")
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=0, equal_nan=True, err_msg=f"{engine} {column}")
    assert (table["padj"] < 0.05).sum() > 50  # the fixtures hold real signal, not an empty table


def test_r_engines_cache_like_deseq2(tmp_path: Path) -> None:
    require_r_engines()
    expected = pd.read_csv(FIXTURES / "pasilla_edger.csv.gz", index_col=0)
    counts, metadata = fixture_inputs("pasilla", expected.index[:500])
    method = build_de_method(shipped_config("edger", cache_dir=str(tmp_path)))
    first, hit_first = method.test(counts, metadata, design="~condition", ref_level="untreated")
    second, hit_second = method.test(counts, metadata, design="~condition", ref_level="untreated")
    assert (hit_first, hit_second) == (False, True)
    pd.testing.assert_frame_equal(first, second)
    assert len(list(tmp_path.glob("edger-*.parquet"))) == 1
    flipped, _ = method.test(counts, metadata, design="~condition", ref_level="treated")
    np.testing.assert_allclose(flipped["log2FoldChange"], -first["log2FoldChange"], rtol=1e-8)


def test_missing_r_package_is_one_line_naming_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from genexai.de.r import session

    monkeypatch.setattr(session, "_installed", lambda package: None)
    with pytest.raises(ConfigError, match=r"de=edger needs the R package\(s\) \['edgeR'\].*make install-r") as err:
        build_de_method({"name": "edger"}).check_available()
    assert "\n" not in str(err.value)


def test_starting_r_leaves_subprocesses_their_own_libpython() -> None:
    """rpy2 adds the system library directory to LD_LIBRARY_PATH; a notebook kernel started after
    an R fit then loaded the system's libpython and failed on ``import ssl``."""
    import os
    import subprocess
    import sys

    require_r_engines()
    before = os.environ.get("LD_LIBRARY_PATH")
    build_de_method({"name": "limma_voom"}).check_available()  # starts R
    assert os.environ.get("LD_LIBRARY_PATH") == before
    child = subprocess.run([sys.executable, "-c", "import ssl"], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
