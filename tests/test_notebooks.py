"""The notebooks run top to bottom (on small settings), so they never rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import real_data

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize(("name", "dataset"), [("01_quickstart", "tcga_brca_paired"), ("02_ground_truth", "geuvadis_sex")])
def test_notebook_executes(name, dataset, tmp_path, monkeypatch):
    real_data(dataset)
    monkeypatch.setenv("GENEXAI_SMALL", "1")
    monkeypatch.setenv("GENEXAI_LOG_DIR", str(tmp_path))  # the kernel inherits this environment
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    assert (tmp_path / "notebooks").is_dir()
    errors = [out for cell in book.cells if cell.cell_type == "code" for out in cell.outputs if out.output_type == "error"]
    assert not errors
    images = [out for cell in book.cells if cell.cell_type == "code" for out in cell.outputs if "image/png" in out.get("data", {})]
    assert images, "the figures are shown inline"
