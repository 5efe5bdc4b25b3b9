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


def _curves(extra_epoch=None, seeds=(0, 1, 2)):
    """A chapter-1 curves table: accuracy = base + slope * ln(epoch) + a seed's offset, at 10, 25 and 50 epochs
    (50: the lowest-loss checkpoint), plus a longer run's row at ``extra_epoch`` when given."""
    import math

    lines = {"random patches": (0.10, 0.09), "masked periphery": (0.05, 0.08), "foveal filter": (0.20, 0.05)}
    rows = []
    for cond, (base, slope) in lines.items():
        for e in (10, 25, 50) + ((extra_epoch,) if extra_epoch else ()):
            accs = [base + slope * math.log(e) + 0.003 * (s - 1) for s in seeds]
            rows.append({"condition": cond, "epoch": e, "checkpoint": "best" if e == 50 else str(e),
                         "accuracy_mean": sum(accs) / len(accs), "accuracy_std": 0.003, "seed_accuracies": accs,
                         "pretrain_seeds": list(seeds), "device": "NVIDIA H200"})
    for e in (10, 25, 50):
        rows.append({"condition": "raw pixels", "epoch": e, "checkpoint": "none", "accuracy_mean": 0.3,
                     "accuracy_std": 0.01, "pretrain_seeds": []})
    return rows
