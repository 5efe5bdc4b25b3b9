"""The book says what its tables say: generated pages are fresh, templates type no results or trends, and no
page states a result-like number that no committed table (nor the paper, nor a committed measurement) holds."""
from __future__ import annotations

import glob
from pathlib import Path

import nbformat
import pytest

from focusmim.book import prose
from focusmim.experiments import Table

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"  # the committed tables (the tests' environment points FOCUSMIM_RESULTS elsewhere)


def _book_texts() -> dict[str, str]:
    """Every page's prose: the book's markdown pages, the README and the notebooks' markdown cells."""
    out = {str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "book").glob("*.md"))}
    out["README.md"] = (ROOT / "README.md").read_text()
    for f in sorted(glob.glob(str(ROOT / "notebooks" / "*.ipynb"))):
        nb = nbformat.read(f, 4)
        out[Path(f).name] = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return out


@pytest.mark.parametrize("page", sorted(prose.PAGES))
def test_generated_page_is_what_its_template_gives_on_the_committed_tables(page):
    expected = prose.render(ROOT / prose.PAGES[page], prose.Facts(RESULTS))
    assert (ROOT / page).read_text() == expected, (
        f"{page} differs from its template on today's tables: run `python -m focusmim prose`")


@pytest.mark.parametrize("page", sorted(prose.PAGES))
def test_templates_type_no_result_and_no_trend(page):
    assert prose.literal_problems((ROOT / prose.PAGES[page]).read_text()) == []


def test_literal_problems_finds_a_planted_number_and_trend():
    text = (ROOT / prose.PAGES["book/findings.md"]).read_text()
    planted = text + "\nThe masked periphery climbs fastest, 41.8 % against 38.9 points.\n"
    problems = prose.literal_problems(planted)
    assert any("41.8 %" in p for p in problems) and any("38.9 points" in p for p in problems)
    assert any("fastest" in p for p in problems)


def test_every_page_states_only_numbers_the_committed_files_hold():
    numbers = prose.table_numbers(RESULTS)
    bad = {page: b for page, text in _book_texts().items() if (b := prose.unbacked_numbers(text, numbers))}
    assert bad == {}, f"numbers no committed table holds (stale or typed by hand): {bad}"


def test_a_planted_stale_number_fails_the_page_check():
    numbers = prose.table_numbers(RESULTS)
    stale = next(v / 10 for v in range(999, 0, -1) if round(v / 10, 1) not in numbers)  # held by no table
    page = _book_texts()["book/intro.md"] + f"\nRandom patches reach {stale:.1f} % here.\n"
    assert prose.unbacked_numbers(page, numbers) == [f"{stale:.1f} %"]


def test_a_changed_table_changes_the_generated_page(tmp_path):
    # the page follows the table: one accuracy changed in a copy of the committed tables shows up on the page
    import shutil

    shutil.copytree(ROOT / "results", tmp_path / "results", ignore=shutil.ignore_patterns("store"))
    t = Table.load("imagenette/01_masking_strategy", root=tmp_path / "results")
    t.row("random patches")["accuracy_mean"] = 0.6123
    t.save("imagenette/01_masking_strategy", root=tmp_path / "results")
    page = prose.render(ROOT / prose.PAGES["book/findings.md"], prose.Facts(tmp_path / "results"))
    assert "61.2 ± 0.8 %" in page and "52.7 ± 0.8 %" not in page


def _curves(points):
    return Table("c", [{"condition": c, "epoch": e, "accuracy_mean": a} for c, e, a in points])


def test_trends_are_computed_from_the_curves():
    curves = _curves([("p", 10, .32), ("p", 25, .35), ("p", 50, .40), ("r", 10, .43), ("r", 25, .47),
                      ("r", 50, .53), ("f", 10, .37), ("f", 25, .42), ("f", 50, .44)])
    assert prose.fastest(curves, ["p", "r", "f"]) == "r"  # +10 against +8 and +7: not the periphery
    assert prose.gap_trend(curves, "r", "p").startswith("widens")
    assert prose.gap_trend(curves, "p", "f").startswith("moves both ways")  # -5, -7, -4
    assert prose.gap_trend(_curves([("a", 1, .5), ("a", 2, .5), ("b", 1, .3), ("b", 2, .45)]), "a", "b") \
        .startswith("closes")


def test_facts_budget_names_the_training_device_and_seeds():
    f = prose.Facts(RESULTS)
    text = f.budget("01_masking_strategy", "imagenette")
    assert "96 px" in text and "3 pretraining seeds" in text and "H200" in text


GENERATED = {"book/findings.md", "book/results.md", "book/results_appendix.md"}  # written from the tables


def test_hand_written_pages_state_no_trend():
    """A trend ("fastest", "widens", "flattens", ...) is a claim about the curves: only generated text states one."""
    import re

    bad = {page: w for page, text in _book_texts().items() if page not in GENERATED
           for w in prose.TREND_WORDS if re.search(rf"\b{w}\b", text.lower())}
    assert bad == {}
