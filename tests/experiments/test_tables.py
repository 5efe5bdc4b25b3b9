import json
import subprocess
from pathlib import Path

import pytest

import focusmim

from focusmim.experiments import Table, publish, results_dir, tables_dir
from focusmim.experiments import load_tables
from focusmim.book.notebook import setup
from tests.experiments.tabletools import _own_tables, _tree


def test_table_roundtrip(tmp_path):
    t = Table("demo", [{"condition": "a", "accuracy_mean": 0.5, "accuracy_std": 0.1}], {"epochs": 3})
    t.save("x/demo")
    back = Table.load("x/demo")
    assert back.rows == t.rows and back.meta == t.meta and back.runs == {}
    assert json.loads((tables_dir() / "x" / "demo.json").read_text())["title"] == "demo"
    assert not (results_dir() / "x").exists()  # saving never touches the book's tables


def test_publish_copies_saved_tables_into_the_book(tmp_path, monkeypatch):
    _own_tables(monkeypatch, tmp_path)
    Table("t", [{"condition": "a"}]).save("smoke/chapter")
    Table("t", [{"condition": "b"}]).save("cpu/chapter")
    with pytest.raises(FileNotFoundError, match="paper"):
        publish(["paper"])
    done = publish(["smoke"])
    assert [(t, c) for _, t, c in done] == [(results_dir() / "smoke" / "chapter.json", True)]
    assert not (results_dir() / "cpu").exists()
    assert [c for *_, c in publish()] == [True, False]  # cpu new, smoke unchanged
    with pytest.raises(FileNotFoundError, match="no saved tables"):
        publish(src=tmp_path / "none")


def test_notebook_save_path_leaves_the_committed_results_alone(monkeypatch, tmp_path):
    """What a user (or nbval, which runs without this file's fixtures) gets: no FOCUSMIM_RESULTS/TABLES;
    a notebook's save lands in the run store, and the repository's results/ is byte-for-byte unchanged."""
    repo_results = Path(focusmim.__file__).resolve().parent.parent / "results"
    monkeypatch.delenv("FOCUSMIM_RESULTS", raising=False)
    monkeypatch.delenv("FOCUSMIM_TABLES", raising=False)
    monkeypatch.setenv("FOCUSMIM_RUNS", str(tmp_path / "runs"))
    before = _tree(repo_results)
    nb = setup("01_masking_strategy", preset="smoke")
    path = nb.save(Table("t", [{"condition": "a"}]))
    nb.save(Table("t", [{"condition": "a"}]), "sweep")
    assert path == tmp_path / "runs" / "tables" / "smoke" / "01_masking_strategy.json"
    assert _tree(repo_results) == before
    git = subprocess.run(["git", "status", "--porcelain", "--", str(repo_results)], capture_output=True, text=True,
                         cwd=repo_results.parent)
    if git.returncode == 0:  # a git checkout: nothing under results/ is new or modified by this test
        changed = {line[3:] for line in git.stdout.splitlines()}
        assert not any("01_masking_strategy" in c for c in changed), changed


def test_smoke_tables_never_overwrite_a_real_preset(tiny_cfg, tmp_path, monkeypatch):
    _own_tables(monkeypatch, tmp_path)
    nb = setup("chapter", preset="smoke")
    nb.save(Table("t", [{"condition": "a"}]))
    Table("t", [{"condition": "b"}]).save("cpu/chapter")
    publish()
    tables = load_tables("chapter")
    assert list(tables) == ["cpu", "smoke"]  # the larger budget first
    assert tables["cpu"].rows[0]["condition"] == "b"


def test_table_shows_as_an_html_table():
    t = Table("demo", [{"condition": "a", "accuracy_mean": 0.5, "accuracy_std": 0.1, "knn": 0.25},
                       {"condition": "b", "accuracy_mean": 0.75, "accuracy_std": 0.0, "knn": None}])
    html = t.show(["condition", "accuracy", "knn"]).to_html()
    assert html.count("<tr") == 3 and "<caption" in html and "demo" in html
    assert "50.0 ± 10.0 %" in html and "25.0 %" in html and "|" not in html
    assert "<table" in t._repr_html_() and ">accuracy<" in t._repr_html_()
    assert ">accuracy mean<" in t.show(["condition", "accuracy_mean"]).to_html()  # headers read as words
    assert html.count("white-space: nowrap") == 1  # one style rule shared by the percentage cells only
    assert "nowrap" not in t.show(["condition"]).to_html()
    ft = Table("ft", [{"condition": "a", "finetune": 0.422}]).show(["condition", "finetune"]).to_html()
    assert "42.2 %" in ft  # fine-tuning accuracy reads as a percentage like the probe's
