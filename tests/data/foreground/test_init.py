"""Tests for focusmim.data.foreground (the package): its public names come from the submodules, and importing it
registers rembg's maps with focusmim.data."""
from __future__ import annotations

import importlib

from focusmim import data

from focusmim.data import foreground
from focusmim.data.foreground import load


def test_public_names_are_the_submodules_objects():
    homes = {}
    for sub in ("cache", "filter", "load", "maps", "quality", "u2netp"):
        mod = importlib.import_module(f"focusmim.data.foreground.{sub}")
        homes.update({name: getattr(mod, name) for name in vars(mod) if not name.startswith("_")})
    assert len(foreground.__all__) == len(set(foreground.__all__))
    for name in foreground.__all__:
        assert getattr(foreground, name) is homes[name], name  # re-exported, not a copy


def test_importing_registers_rembg_as_a_foreground_source():
    assert data.FOREGROUND_SOURCES["rembg"] is load._load_rembg
    assert "gt" not in data.FOREGROUND_SOURCES  # ground truth comes with the synthetic data itself
