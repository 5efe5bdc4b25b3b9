"""Chapters 1-3 at a tiny budget: tables, reuse of runs across chapters, cached evaluations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from focusmim import chapters
from focusmim.chapters import ch01_masking_strategy as ch01
from focusmim.chapters import ch02_decorrelation as ch02
from focusmim.chapters import ch03_augmentation as ch03
from focusmim.notebook import setup
from focusmim.paper import PAPER_ACCURACY
from focusmim.plots import masking as pm
from focusmim.runs import RunStore

TINY = dict(epochs=1, n_unlabeled=32, n_labeled=40, n_test=32, batch_size=32, width=0.25)


def _nb(name, **params):
    return setup(name, preset="smoke", seeds=(0,), probe_seeds=(0,), notebook_params=params, **TINY)


FULL01, FULL03 = dict(ch01.STRATEGIES), dict(ch03.CONDITIONS)  # before the fixture below patches them
# a subset of each chapter's conditions keeps the file fast; the full lists are checked by name below
FEW = ["random patches", "masked periphery", "plain autoencoder"]
FEW3 = ["random patches", "random patches, no crop", "masked periphery", "fixed random patches"]


@pytest.fixture(scope="module", autouse=True)
def _few_conditions():
    with pytest.MonkeyPatch.context() as mp:
        few = {k: ch01.STRATEGIES[k] for k in FEW}
        mp.setattr(ch01, "STRATEGIES", few)
        mp.setattr(ch02, "STRATEGIES", few)
        mp.setattr(ch03, "CONDITIONS", {k: ch03.CONDITIONS[k] for k in FEW3})
        yield


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return RunStore(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def res01(store):
    return chapters.compute("01_masking_strategy", _nb("01_masking_strategy", ratios=(0.8,)), store=store)


def test_registered():
    names = chapters.REGISTRY.names()
    for n in ("01_masking_strategy", "02_decorrelation", "03_augmentation"):
        assert n in names


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


def test_chapter3_conditions(store, res01):
    res = chapters.compute("03_augmentation", _nb("03_augmentation"), store=store)
    t = res["table"]
    assert [r["condition"] for r in t.rows] == FEW3
    assert t.row("random patches, no crop")["crop"] is False and t.row("random patches")["crop"] is True
    assert t.row("fixed random patches")["fixed"] is True and t.row("random patches")["fixed"] is False
    # crop-on runs are chapter 1's; fixed masks are a different run
    assert t.row("random patches")["run_keys"] == res01["table"].row("random patches")["run_keys"]
    assert t.row("fixed random patches")["run_keys"] != t.row("random patches")["run_keys"]
    assert res["crop"]["groups"] == ch03.CROP_GROUPS
    m, s = res["crop"]["series"]["no crop"]
    assert m[0] == t.row("random patches, no crop")["accuracy_mean"]
    assert m[1] is None  # not run in this subset
    assert res["fixed"]["series"]["crop"][0] == [t.row("random patches")["accuracy_mean"],
                                                 t.row("fixed random patches")["accuracy_mean"]]
