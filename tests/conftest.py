"""Shared fixtures: every test gets its own run store, results and data cache folders.

Tests that need data from outside the repository (the CIFAR-10 JPEGs, rembg's u2netp
weights) call :func:`need_external`: on a fresh machine without them they are skipped
with a one-line reason saying how to provide them; with ``FOCUSMIM_REQUIRE_SHARED=1``
(as ``.ci/run`` sets it) a missing file fails the test instead, so CI loses nothing.
Optional packages of requirements.txt that a developer may not have installed (tensorboard)
are treated the same way by :func:`need_package`: CI installs requirements.txt, so there a
missing one is a failure too.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from focusmim.config import make_config

REQUIRE_SHARED = "FOCUSMIM_REQUIRE_SHARED"


def need_external(path: Path | None, what: str, how: str) -> Path:
    """``path`` if it exists; else skip (or fail under ``$FOCUSMIM_REQUIRE_SHARED=1``) with one line
    naming ``what`` is missing and ``how`` to provide it."""
    if path is not None and Path(path).exists():
        return Path(path)
    msg = f"{what} not found{f' at {path}' if path else ''}; {how}"
    if os.environ.get(REQUIRE_SHARED, "") not in ("", "0"):
        pytest.fail(f"{msg} ({REQUIRE_SHARED} is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(msg)


def need_package(name: str, how: str) -> None:
    """Return when the package ``name`` is installed; else skip (or fail under ``$FOCUSMIM_REQUIRE_SHARED=1``,
    where requirements.txt is installed) with one line saying ``how`` to install it."""
    if importlib.util.find_spec(name) is not None:
        return
    msg = f"package {name} not installed; {how}"
    if os.environ.get(REQUIRE_SHARED, "") not in ("", "0"):
        pytest.fail(f"{msg} ({REQUIRE_SHARED} is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("FOCUSMIM_RUNS", str(base / "runs"))
    monkeypatch.setenv("FOCUSMIM_RESULTS", str(base / "results"))
    monkeypatch.setenv("FOCUSMIM_CACHE", str(base / "cache"))


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test left open (pyplot keeps them, and warns past 20)."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")  # only when some test imported it
    if pyplot is not None:
        pyplot.close("all")


@pytest.fixture
def tiny_cfg():
    """A config that trains in about a second on 2 CPU cores."""
    return make_config("smoke", epochs=2, n_unlabeled=96, n_labeled=100, n_test=60, batch_size=32, width=0.25)
