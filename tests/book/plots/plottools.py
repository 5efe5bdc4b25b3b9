"""Shared helpers of the tests of focusmim.book.plots: run metadata and an accuracy table."""
from __future__ import annotations

from focusmim.experiments import Table


META = {"dataset": "synthetic", "image_size": 32, "epochs": 2, "seeds": [0, 1], "device_name": "CPU",
        "wall_time_s": 90.0}


def _acc_table():
    rows = [{"condition": c, "accuracy_mean": m, "accuracy_std": s}
            for c, m, s in [("random patches", 0.61, 0.02), ("masked periphery", 0.58, 0.01), ("raw pixels", 0.3, 0.0),
                            ("my new idea", 0.5, 0.03)]]
    return Table("strategies", rows, dict(META))
