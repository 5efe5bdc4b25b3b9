"""Chapter 1's readout check, judged and worded from its table (the readouts themselves: tests/test_readouts.py)."""
from __future__ import annotations

from focusmim.chapters import ch01_readouts as ro
from focusmim.experiments import Table


def _table(knn_periphery: float) -> Table:
    acc = {"linear": {"random patches": .53, "masked periphery": .43, "foveal filter": .44, "raw pixels": .37},
           "knn": {"random patches": .42, "masked periphery": knn_periphery, "foveal filter": .29, "raw pixels": .22}}
    rows = [{"condition": c, "readout": r, "accuracy_mean": a, "accuracy_std": .01, "seed_accuracies": [a],
             "pretrain_seeds": [] if c == "raw pixels" else [0]} for r, d in acc.items() for c, a in d.items()]
    return Table("readouts", rows, {"dataset": "imagenette", "image_size": 96, "seeds": [0], "probe_seeds": [0, 1]})


def test_rankings_and_the_matrix_follow_each_readout():
    t = _table(.32)
    assert ro.rankings(t)["linear"] == ["random patches", "foveal filter", "masked periphery", "raw pixels"]
    assert ro.rankings(t)["knn"] == ["random patches", "masked periphery", "foveal filter", "raw pixels"]
    m = {r["condition"]: r for r in ro.readout_matrix(t).rows}
    assert m["masked periphery"]["linear"] == "43.0 ± 1.0 % (3)" and m["masked periphery"]["knn"].endswith("(2)")


def test_one_pretraining_seed_gives_no_verdict_under_any_readout():
    claims = {r["claim"]: r for r in ro.readout_claims(_table(.32), ["periphery >> foveal"]).rows}
    row = claims["periphery >> foveal"]
    assert row["verdict linear"] == row["verdict knn"] == "inconclusive"
    assert "no verdict" in row["knn"] and row["means knn"] == "holds"  # +3 points: above the 2-point margin
    assert row["means linear"] == "does not hold"


def test_the_text_says_which_strategy_moves_and_by_how_much():
    text = ro.readout_text(_table(.32))
    assert "Read out two ways" in text and "masked periphery up 1 place" in text
    assert "keeps the paper probe's order" in ro.readout_text(_table(.25))
