"""The notebooks: stored without outputs, each opening with its summary, every figure labelled,
and each one running top to bottom on a fresh install (small-data switch ``QCLF_NB_SMALL=1``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
EXPECTED = ["00_quickstart", "01_parallel_circuits", "02_quanvolution", "03_circuit_cutting",
            "04_autoencoder_transfer", "05_quantum_creep", "06_circuit_families",
            "07_aer_and_hardware"]

nbformat = pytest.importorskip("nbformat")


def test_the_eight_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stripped_summarised_and_labelled(path: Path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    for part in ("**Follows:**", "**Shows:**", "**Real data:**"):
        assert part in first.source, f"{path.name}: the opening cell needs {part}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), \
        f"{path.name} is stored with outputs: clear them before committing"
    assert any("DATASET = " in c.source and "DATA_DIR = " in c.source for c in code)
    for c in code:
        if "plt.subplots" in c.source:
            assert "xlabel" in c.source and "title" in c.source, c.source[:200]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("QCLF_NB_SMALL", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
