"""Tests for focusmim.chapters.ch02_decorrelation: latent statistics, and the chapter reusing chapter 1's runs."""
from __future__ import annotations

import math

import pytest
import torch

from focusmim import chapters
from focusmim.chapters import ch02_decorrelation as ch02

from tests.chapters.conftest import FEW, TINY, tiny_notebook as _nb


def test_chapter2_reuses_runs_and_caches(store, res01):
    nb = _nb("02_decorrelation")
    before = {r.dir.name for r in store.runs()}
    res = chapters.compute("02_decorrelation", nb, store=store)
    assert {r.dir.name for r in store.runs()} == before  # nothing retrained
    t = res["table"]
    assert [r["condition"] for r in t.rows] == FEW
    for r in t.rows:
        assert r["n"] == TINY["n_test"] and r["d"] > 0
        assert math.isfinite(r["decorrelation_mean"]) and r["decorrelation_mean"] >= 0
        assert 0 <= r["population_sparsity_mean"] <= 1
    for name, curves in res["curves"].items():
        assert len(curves) == 1 and len(curves[0]) == TINY["epochs"]
    run = res["runs"]["random patches"][0]
    cached = run.load_json(f"latent-stats-n{TINY['n_test']}.json")
    assert cached["decorrelation"] == pytest.approx(t.row("random patches")["decorrelation_mean"])


def test_latent_stats_detects_correlation():
    g = torch.Generator().manual_seed(0)
    z = torch.relu(torch.randn(128, 32, generator=g))
    indep = ch02.latent_stats(z)["decorrelation"]
    dup = ch02.latent_stats(torch.cat([z, z, z], 1))["decorrelation"]
    assert dup > indep + 1
    with pytest.raises(ValueError, match="z must"):
        ch02.latent_stats(torch.zeros(1, 4))
