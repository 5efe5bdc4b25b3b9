"""Committed notebooks stay re-executable at any preset: papermill's injected parameters (e.g. the
preset a book run used) must not be committed, or CI would re-run that budget instead of smoke."""
import copy
import json
from pathlib import Path

import pytest

from focusmim.book.hygiene import clean

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_seven_chapters():
    assert len(NOTEBOOKS) == 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_first_and_nothing_injected(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    tags = [c.get("metadata", {}).get("tags", []) for c in cells]
    assert "parameters" in tags[0]
    assert "preset = None" in "".join(cells[0]["source"])
    assert not any("injected-parameters" in t for t in tags)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_hold_only_what_a_reader_should_see(path):
    """A committed notebook is already what ``focusmim.book.hygiene.clean`` leaves: no frozen progress bar,
    widget view or widget state."""
    nb = json.loads(path.read_text())
    assert clean(copy.deepcopy(nb)) == nb, (
        f"{path.name} keeps progress bars, widget views or widget state; "
        f"run: python -m focusmim.book.hygiene clean {path.relative_to(path.parent.parent)}")
