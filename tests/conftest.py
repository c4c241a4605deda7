"""Shared fixtures: Hydra configs composed like `train.py` does, simulated and real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from genexai.datasets.simulate import simulate_counts

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "configs"
DATA_DIR = Path(os.environ.get("GENEXAI_DATA_DIR", ROOT.parent / "shared" / "data"))


def compose_config(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose a config as the entry point would, with ``hydra:`` resolvers pointing at ``output_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir / "logs")
        cfg.paths.data_dir = str(DATA_DIR)
        del cfg.hydra  # the entry point's cfg has no `hydra` node either
    return cfg


@pytest.fixture
def train_cfg(tmp_path: Path):
    """Factory: ``train_cfg(["model=mlp", ...])`` → a composed, fast training config."""

    def make(overrides: list[str] = ()) -> DictConfig:
        base = ["logger=none", "trainer.max_epochs=3", "~callbacks.rich_progress_bar", "trainer.enable_progress_bar=false"]
        return compose_config("train", [*base, *overrides], tmp_path)

    return make


@pytest.fixture(scope="session")
def small_sim():
    """A small simulated dataset with strong planted effects (truth in ``var``)."""
    return simulate_counts(n_samples=80, n_genes=400, de_fraction=0.1, lfc_mean=1.5, seed=1)


def in_ci() -> bool:
    """Whether the suite runs under CI (``CI=true``, as CI services and ``.ci/run`` set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def real_data(name: str) -> tuple[Path, Path]:
    """Counts and metadata paths of a dataset in the data root.

    A missing dataset skips the test locally, but fails it under CI: a CI run that skips the
    real-data checks (the PyDESeq2 identity on TCGA among them) would pass without testing them.
    """
    folder = DATA_DIR / name
    if not (folder / "counts.csv.gz").is_file():
        message = f"dataset {name} not found under {DATA_DIR} (set GENEXAI_DATA_DIR)"
        if in_ci():
            pytest.fail(f"{message}; CI=true requires the real data", pytrace=False)
        pytest.skip(message)
    return folder / "counts.csv.gz", folder / "metadata.csv"


def require_r_engines() -> None:
    """Skip (locally) or fail (under CI) unless rpy2, R, DESeq2, edgeR and limma are installed.

    CI installs them (``make install-r`` in ``.ci/run``); a CI run that skipped the R engine
    tests would pass without testing them.
    """
    from genexai.de.r import require_r
    from genexai.errors import ConfigError

    try:
        require_r(("DESeq2", "edgeR", "limma"), method="the R engine tests")
    except ConfigError as err:
        if in_ci():
            pytest.fail(f"{err}; CI=true requires R (make install-r)", pytrace=False)
        pytest.skip(str(err))
