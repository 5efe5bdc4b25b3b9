"""Chapters open with provenance generated from their tables, show the book's one verdict per claim, and their
table-only cells hold what a fresh execution on today's tables prints."""
from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from focusmim.book import chapter_text

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
NOTEBOOKS = sorted(glob.glob(str(ROOT / "notebooks" / "*.ipynb")))


@pytest.fixture(autouse=True)
def _committed_tables(monkeypatch):
    monkeypatch.setenv("FOCUSMIM_RESULTS", str(RESULTS))  # the conftest points it at an empty folder


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: Path(p).stem)
def test_every_chapter_opens_with_its_generated_provenance(path):
    book = nbformat.read(path, 4)
    tagged = [i for i, c in enumerate(book.cells) if chapter_text.TAG in c.metadata.get("tags", [])]
    assert tagged and tagged[0] <= 3 and "show_provenance" in book.cells[tagged[0]].source
    shown = book.cells[tagged[0]].outputs[0]["data"]["text/markdown"]
    assert shown.startswith("**Provenance of this chapter's table**")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: Path(p).stem)
def test_table_cells_hold_what_a_fresh_execution_prints(path):
    assert chapter_text.refresh_table_cells(path, write=False) == [], (
        f"{Path(path).name}: run `python -m focusmim prose` to refresh its generated cells")


def test_provenance_states_the_rows_seeds_the_tier_and_the_earlier_rules():
    text = chapter_text.chapter_provenance("03_augmentation", "gpu", RESULTS)
    assert "pretraining seeds [0] (1 per condition)" in text  # the rows', not the notebook's [0, 1, 2]
    assert "not the book's headline tier" in text and "None of its runs are those of chapter 1's table" in text
    assert "earlier foveal filter" in text
    head = chapter_text.chapter_provenance("01_masking_strategy", "imagenette", RESULTS)
    assert "NVIDIA H200" in head and "headline tier" not in head


def test_provenance_follows_the_table(tmp_path):
    shutil.copytree(RESULTS / "gpu", tmp_path / "gpu")
    p = tmp_path / "gpu" / "02_decorrelation.json"
    d = json.loads(p.read_text())
    for r in d["rows"]:
        r["device"] = "Some Other GPU"
    p.write_text(json.dumps(d))
    assert "trained on Some Other GPU" in chapter_text.chapter_provenance("02_decorrelation", "gpu", tmp_path)


def test_chapters_show_the_results_pages_verdict():
    text = chapter_text.book_verdicts(["periphery decorrelates more than foveal"], RESULTS)
    assert "judged in 01_masking_strategy (imagenette tier)" in text
    book = nbformat.read(ROOT / "notebooks" / "02_decorrelation.ipynb", 4)
    shown = "".join(str(o.get("data", {}).get("text/markdown", "")) for c in book.cells for o in c.get("outputs", []))
    assert text in shown and "no per-seed values stored" not in shown


def test_execute_cell_captures_print_and_markdown():
    out = chapter_text.execute_cell("print('a')\nchapter_text._Markdown('**b**')", {"chapter_text": chapter_text})
    assert out[0]["text"] == "a\n" and out[1]["data"]["text/markdown"] == "**b**"


def test_readout_section_is_generated_from_the_readout_table(tmp_path):
    from focusmim.chapters.ch01_readouts import TABLE
    from focusmim.experiments import Table

    assert "No readout table is published yet" in chapter_text.readout_section("imagenette", tmp_path)
    rows = []
    for cond, accs in {"random patches": (.53, .42), "masked periphery": (.43, .44), "raw pixels": (.37, .22)}.items():
        for readout, a in zip(("linear", "knn"), accs):
            rows.append({"condition": cond, "readout": readout, "accuracy_mean": a, "accuracy_std": .01,
                         "accuracies": [a] * 5, "seed_accuracies": [a], "pretrain_seeds": [] if cond == "raw pixels"
                         else [0]})
    Table("readouts", rows, {"readouts": ["linear", "knn"], "dataset": "imagenette", "image_size": 96,
                             "probe_seeds": [0, 1, 2, 3, 4]}).save(f"imagenette/{TABLE}", root=tmp_path)
    text = chapter_text.readout_section("imagenette", tmp_path)
    assert "Readouts at the `imagenette` tier" in text and "pretraining seeds [0]" in text
    assert "| random patches |" in text and "| masked periphery |" in text
