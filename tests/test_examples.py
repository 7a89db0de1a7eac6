"""The notebooks in examples/ run from top to bottom (nbclient, the suite's own Python as the kernel)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.ipynb"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images  # the molecule grids were drawn
    html = " ".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "<img" in html or "<svg" in html or path.stem.startswith("design")  # molecules drawn inside the table


def test_there_are_two_notebooks():
    assert {p.stem for p in EXAMPLES} == {"molecule_quick_start", "design_with_your_scorer"}
