"""Shared fixtures: every test gets its own run store, results and data cache folders."""
from __future__ import annotations

import pytest

from focusmim.config import make_config


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("FOCUSMIM_RUNS", str(base / "runs"))
    monkeypatch.setenv("FOCUSMIM_RESULTS", str(base / "results"))
    monkeypatch.setenv("FOCUSMIM_CACHE", str(base / "cache"))


@pytest.fixture
def tiny_cfg():
    """A config that trains in about a second on 2 CPU cores."""
    return make_config("smoke", epochs=2, n_unlabeled=96, n_labeled=100, n_test=60, batch_size=32, width=0.25)
