"""What produced a run: package versions, the code's git commit and the data files' hashes.

A metric is only reproducible if one can rebuild what made it. ``provenance.json`` in
every run directory records the environment and fingerprints the input files, so a
later reader can tell whether a rerun used the same code and the same data.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genexai.utils.files import write_json

__all__ = ["PROVENANCE_FILE", "provenance", "write_provenance"]

PROVENANCE_FILE = "provenance.json"

#: Distributions whose versions change results (numerics, statistics, training loop).
PACKAGES = (
    "genexai", "torch", "pytorch-lightning", "numpy", "scipy", "pandas", "anndata", "pydeseq2",
    "captum", "torchmetrics", "scikit-learn", "xgboost-cpu", "xgboost", "hydra-core", "omegaconf", "wandb",
)

_PROJECT_ROOT = Path(__file__).resolve().parents[3]


def _versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(_PROJECT_ROOT), *args], capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _git_state() -> dict[str, Any]:
    """Commit of the genexai checkout and whether it had uncommitted changes (``None`` outside git)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


def _data_files(node: Any) -> Iterator[Path]:
    """Every existing file named by a string value anywhere under the data config."""
    if isinstance(node, dict):
        for value in node.values():
            yield from _data_files(value)
    elif isinstance(node, list):
        for value in node:
            yield from _data_files(value)
    elif isinstance(node, str) and ("/" in node or node.endswith((".csv", ".gz", ".h5ad"))):
        path = Path(node)
        if path.is_file():
            yield path.resolve()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(data_cfg: DictConfig | dict | None) -> dict[str, Any]:
    """The provenance record of a run reading the data configured in ``data_cfg``."""
    data = OmegaConf.to_container(data_cfg, resolve=True) if isinstance(data_cfg, DictConfig) else data_cfg
    files = {str(path): {"sha256": _sha256(path), "bytes": path.stat().st_size} for path in sorted(set(_data_files(data)))}
    return {
        "command": sys.argv,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": _versions(),
        "git": _git_state(),
        "data_files": files,
    }


def write_provenance(run_dir: str | Path, data_cfg: DictConfig | dict | None) -> Path:
    """Write ``provenance.json`` into ``run_dir`` (atomically) and return its path."""
    return write_json(Path(run_dir) / PROVENANCE_FILE, provenance(data_cfg))
