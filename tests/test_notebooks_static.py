"""Committed notebooks stay re-executable at any preset: papermill's injected parameters (e.g. the
preset a book run used) must not be committed, or CI would re-run that budget instead of smoke."""
import json
from pathlib import Path

import pytest

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
    """No frozen progress bar, widget view or widget state in a committed notebook (``focusmim.book.clean``
    drops them when a notebook is rendered for the book)."""
    from focusmim.book import is_progress

    nb = json.loads(path.read_text())
    left = [o.get("text", "") or sorted(o.get("data", {}))
            for c in nb["cells"] for o in c.get("outputs", []) if is_progress(o)]
    assert not left, f"{path.name} keeps progress bars or widget views: {left[:3]}"
    assert "widgets" not in nb.get("metadata", {}), f"{path.name} keeps widget state"
