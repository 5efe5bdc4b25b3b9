"""Tests for focusmim.chapters (the registry of chapters and compute)."""
from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest

from focusmim import chapters

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_chapters_01_to_03_registered():
    names = chapters.REGISTRY.names()
    for n in ("01_masking_strategy", "02_decorrelation", "03_augmentation"):
        assert n in names


def test_chapters_06_and_07_registered():
    assert {"06_architectures", "07_learned_masks"} <= set(chapters.REGISTRY.names())


def test_every_chapter_module_registers_its_notebooks_name():
    found = [m.name for m in pkgutil.iter_modules(chapters.__path__) if not m.name.startswith("_")]
    # a module named after a notebook is its chapter; another chNN_ module is a section of chapter NN (ch01_readouts)
    modules = [m for m in found if (NOTEBOOKS / f"{m[2:]}.ipynb").exists()]
    sections = [m for m in found if m not in modules]
    assert len(modules) == 7 and all(m.startswith("ch") for m in found)
    assert all(any(s[:4] == m[:4] for m in modules) for s in sections), sections
    # chNN_topic registers NN_topic, which is also the notebook's file name
    assert chapters.REGISTRY.names() == sorted(m[2:] for m in modules)
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == chapters.REGISTRY.names()


def test_compute_unknown_chapter_names_the_known_ones():
    with pytest.raises(ValueError, match=r"chapter='08_nope' is not a known chapter; allowed: '01_masking_strategy'"):
        chapters.compute("08_nope", nb=None)
    with pytest.raises(ValueError, match="not a known chapter"):
        chapters.compute(1, nb=None)


def test_compute_calls_the_chapter_with_the_notebook_and_keywords(monkeypatch):
    seen = []

    def fake(nb, **kwargs):
        seen.append((nb, kwargs))
        return {"table": "t"}

    monkeypatch.setitem(chapters.REGISTRY._factories, "99_fake", fake)
    assert chapters.compute("99_fake", "the notebook", store="s", progress=False) == {"table": "t"}
    assert seen == [("the notebook", {"store": "s", "progress": False})]
