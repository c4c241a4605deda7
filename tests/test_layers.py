"""The package layers (issue 18) hold on the real tree, and the linter does catch a broken one.

The contracts live in pyproject.toml's ``[tool.importlinter]``; ``make test`` runs the linter
too, but this test keeps the guarantee inside the pytest suite CI reads, and the second test
shows the contracts are not vacuous: one added forbidden import must break the contract that
names it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# `python -m importlinter.cli` defines no __main__ block; call the `lint-imports` entry point.
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def contract_name(contract_id: str) -> str:
    """The name pyproject.toml gives the contract ``contract_id``, as the linter prints it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (name,) = [c["name"] for c in config["tool"]["importlinter"]["contracts"] if c["id"] == contract_id]
    return name


def run_linter(project: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter with ``project``'s pyproject.toml on ``project/src/genexai``.

    ``project/src`` goes first on PYTHONPATH, ahead of the venv's editable install, so the
    import graph is built from the tree given and not from whichever checkout is installed.
    """
    path = os.pathsep.join(p for p in (str(project / "src"), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--no-logo"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_real_tree_keeps_every_contract():
    result = run_linter(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "forbidden", "contract_id"),
    [
        ("data/__init__.py", "genexai.de", "data-without-de"),
        ("estimators/__init__.py", "genexai.pipeline", "estimators-standalone"),
    ],
)
def test_forbidden_import_breaks_its_contract(tmp_path, module, forbidden, contract_id):
    shutil.copytree(ROOT / "src" / "genexai", tmp_path / "src" / "genexai", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / "genexai" / module
    source = target.read_text()
    target.write_text(source + ("" if source.endswith("\n") or not source else "\n") + f"import {forbidden}\n")
    line = len(target.read_text().splitlines())
    importer = "genexai." + module.removesuffix("/__init__.py").removesuffix(".py").replace("/", ".")

    result = run_linter(tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert f"{contract_name(contract_id)} BROKEN" in output, output
    assert f"{importer} -> {forbidden} (l.{line})" in output, output
