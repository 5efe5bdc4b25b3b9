"""Fixtures of the planning tests: a fixed step time, and a timing cache of the test's own."""
from __future__ import annotations

import pytest

from focusmim.planning import plan


@pytest.fixture
def fast_timing(monkeypatch):
    """A fixed step time, so plans are instant and their estimates exact."""
    calls = []

    def fake(cfg, batch, cache=True, threads=None):
        calls.append((cfg.masker, batch))
        return 0.5

    monkeypatch.setattr(plan, "step_seconds", fake)
    return calls


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A timing cache of this test's own (the session's is shared by every test)."""
    monkeypatch.setenv("FOCUSMIM_CACHE", str(tmp_path / "cache"))
