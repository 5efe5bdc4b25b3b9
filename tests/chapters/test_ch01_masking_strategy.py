"""Tests for focusmim.chapters.ch01_masking_strategy at a tiny budget: conditions, tables, reconstructions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from focusmim.chapters import ch01_masking_strategy as ch01
from focusmim.evaluation.paper import PAPER_ACCURACY
from focusmim.book.plots import masking as pm

from tests.chapters.conftest import FEW, FULL01, FULL03, tiny_notebook as _nb


def test_condition_names_match_paper():
    assert set(FULL01) <= set(PAPER_ACCURACY)  # every strategy has a paper value
    assert {"random patches", "masked periphery", "foveal filter", "random patches, no crop",
            "masked periphery, no crop", "fixed random patches", "fixed random patches, no crop"} <= set(FULL03)
    for name in FULL03:
        if "fixed" not in name and name != "foveal filter, no crop":  # the paper gives no number for these
            assert name in PAPER_ACCURACY, name


def test_masked_fractions_match_reference():
    f = ch01.masked_fractions(96)
    assert round(f["random patches, ratio 0.6"], 3) == 0.597
    assert round(f["masked periphery, ratio 0.8"], 3) == 0.805
    with pytest.raises(ValueError, match="image_size"):
        ch01.masked_fractions(4)


def test_sweep_conditions_reuse_default_ratio():
    c = ch01.sweep_conditions([0.6, 0.8])
    assert c["random patches, ratio 0.6"]["ratio"] is None  # the main table's run
    assert c["masked periphery, ratio 0.6"]["ratio"] == 0.6
    assert c["masked periphery, ratio 0.8"]["ratio"] is None
    with pytest.raises(ValueError, match="ratios"):
        ch01.sweep_conditions([1.2])


def test_chapter1_tables(res01):
    t = res01["table"]
    conds = [r["condition"] for r in t.rows]
    assert conds == FEW + ["raw pixels"]
    for r in t.rows:
        assert 0 <= r["accuracy_mean"] <= 1 and r["accuracy_std"] >= 0
    sweep = res01["sweep"]
    assert sorted({(r["strategy"], r["ratio"]) for r in sweep.rows}) == [
        ("masked periphery", 0.8), ("random patches", 0.8)]
    # the periphery at its default ratio is the very run of the main table, patches at 0.8 are not
    assert sweep.row("masked periphery, ratio 0.8")["run_keys"] == t.row("masked periphery")["run_keys"]
    assert sweep.row("random patches, ratio 0.8")["run_keys"] != t.row("random patches")["run_keys"]


def test_chapter1_reconstructions(res01):
    rec = res01["reconstructions"]
    assert list(rec) == FEW
    size = res01["image_size"]
    for name, d in rec.items():
        tgt = torch.tensor(d["target"])
        assert tgt.shape == (ch01.N_RECONSTRUCTIONS, 3, size, size)
        assert torch.tensor(d["reconstruction"]).shape == tgt.shape
    # the plain autoencoder sees the target unmasked; the periphery hides its border
    assert torch.equal(torch.tensor(rec["plain autoencoder"]["masked"]), torch.tensor(rec["plain autoencoder"]["target"]))
    per = rec["masked periphery"]
    assert not torch.equal(torch.tensor(per["masked"]), torch.tensor(per["target"]))
    # the examples are one per class, not the split's first images (CIFAR-10's test folder is in class order)
    from focusmim.data import load_for_config
    from focusmim.data.base import spread_over_classes

    test = load_for_config(_nb("01_masking_strategy").base, "test")
    idx = spread_over_classes(test.labels, ch01.N_RECONSTRUCTIONS)
    assert len(set(test.labels[idx].tolist())) == ch01.N_RECONSTRUCTIONS
    assert torch.equal(torch.tensor(per["target"], dtype=torch.uint8), test.images[idx])
    assert "older" not in per  # computed from the run's weights, not an older cache


def test_examples_fall_back_to_an_older_cache_only_without_weights(store, res01):
    run = res01["runs"]["masked periphery"][0]
    run.save_json("reconstructions-n2-s0.json", {"target": [], "masked": [], "reconstruction": []})
    images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    assert "older" not in ch01.reconstructions(run, images)  # weights here: computed afresh
    moved = run.checkpoint_path("best").rename(run.dir / "best.pt.away"), run.checkpoint_path("last")
    last_away = moved[1].rename(run.dir / "last.pt.away") if moved[1].exists() else None
    try:
        got = ch01.reconstructions(run, images + 1)  # other images, no weights: the older cache, marked
        assert got["older"] == ch01.OLDER_EXAMPLES
        blank = [np.zeros((3, 4, 4), np.uint8)] * 2
        fig = pm.reconstruction_grid({"x": {**got, "target": blank, "masked": blank, "reconstruction": blank}})
        assert "one class" in fig.get_suptitle()
    finally:
        (run.dir / "best.pt.away").rename(run.checkpoint_path("best"))
        if last_away is not None:
            last_away.rename(run.checkpoint_path("last"))


def test_the_zoo_model_draws_the_examples_of_a_run_without_weights(res01, tmp_path, monkeypatch):
    from focusmim import masking
    from focusmim.store import zoo

    run = res01["runs"]["masked periphery"][0]
    zoo.add(zoo.export(run, tmp_path / "out" / "m.safetensors", name="tiny-periphery"), tmp_path / "zoo")
    monkeypatch.setenv("FOCUSMIM_ZOO", str(tmp_path / "zoo"))
    images = torch.full((2, 3, 32, 32), 9, dtype=torch.uint8)
    images[:, :, 8:24, 8:24] = 200
    x = images.float() / 255
    out = masking.build(run.config.masker, **run.config.masker_kwargs())(
        x, torch.Generator().manual_seed(0), index=torch.arange(2))
    with torch.no_grad():
        own = run.load_model("best")(out.inputs)[0].clamp(0, 1).mul(255).round()  # the run's own fp32 weights
    away = [p.rename(p.with_suffix(".away")) for p in (run.checkpoint_path("best"), run.checkpoint_path("last"))
            if p.exists()]
    try:
        got = ch01.reconstructions(run, images)
        assert got["weights"]["zoo"] == "tiny-periphery" and got["weights"]["key"] == run.dir.name
        assert "older" not in got
        assert (torch.tensor(got["reconstruction"]).float() - own).abs().max() <= 1  # fp16 rounding at most
        fig = pm.reconstruction_grid({"masked periphery": got})
        assert fig.get_suptitle().replace("\n", " ") == (
            f"Reconstructions drawn by the zoo model tiny-periphery (run {run.dir.name}, fp16 weights)")
    finally:
        for p in away:
            p.rename(p.with_suffix(".pt"))


def test_every_row_shows_the_same_images(tmp_path):
    from focusmim.config import make_config
    from focusmim.store.runs import RunStore

    store = RunStore(tmp_path)
    a, b, c = (store.open(make_config("smoke", masker=m)) for m in ("random_patches", "masked_periphery", "none"))
    fresh = {"target": [[1]], "seed": 0}
    assert ch01.same_images({"a": fresh, "b": fresh}, {"a": a, "b": b}) == {"a": fresh, "b": fresh}
    b.save_json(f"reconstructions-n{ch01.N_RECONSTRUCTIONS}-s0.json", {"target": [[2]], "seed": 0})
    got = ch01.same_images({"a": {"target": [[3]], "older": "old"}, "b": fresh, "c": fresh}, {"a": a, "b": b, "c": c})
    assert got["a"]["older"] == "old"
    assert got["b"] == {"target": [[2]], "seed": 0, "older": ch01.OLDER_EXAMPLES}  # its own older examples
    assert got["c"] == fresh  # none older to fall back to: its own (the grid's title names each row's source)
