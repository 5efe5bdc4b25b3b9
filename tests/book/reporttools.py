"""Helpers of the results-page tests: fabricated tables published into an empty results folder of the test's own
(import ``_own_results`` into a test module to make it that module's autouse fixture)."""
from __future__ import annotations

import pytest

from focusmim.experiments import Table, results_dir

META = {"dataset": "stl10", "image_size": 96, "epochs": 500, "seeds": [0], "device_name": "NVIDIA H100"}


@pytest.fixture(autouse=True)
def _own_results(tmp_path, monkeypatch):
    monkeypatch.setenv("FOCUSMIM_RESULTS", str(tmp_path / "results"))  # every test starts empty


def _store(preset, name, rows, meta=None):
    Table(name, rows, dict(meta or META)).save(f"{preset}/{name}", root=results_dir())  # as published


def _row(cond, acc, std=0.01, **kw):
    return {"condition": cond, "accuracy_mean": acc, "accuracy_std": std, "epochs": 500, "pretrain_seeds": [0],
            "wall_time_s": 7200.0, **kw}


def _seeds(cond, accs, **kw):
    mean = sum(accs) / len(accs)
    return _row(cond, mean, pretrain_seeds=list(range(len(accs))), seed_accuracies=list(accs), **kw)
