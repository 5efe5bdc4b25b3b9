"""Tests for focusmim.chapters.ch07_learned_masks: snapshots, mask-object affinity and the chapter at a tiny budget."""
from __future__ import annotations

from functools import partial

import pytest
import torch

from focusmim import chapters
from focusmim.chapters import ch07_learned_masks as ch07
from focusmim.book.plots.learned import affinity_figure, mask_gallery_figure
from focusmim.store.runs import RunStore

from tests.chapters.conftest import tiny_notebook

_nb = partial(tiny_notebook, epochs=2)  # chapters 6 and 7 train two epochs


def test_snapshots_and_fixed_mask_affinity():
    assert ch07.snapshot_epochs(2, 5) == (1, 2) and ch07.snapshot_epochs(10, 2) == (5, 10)
    with pytest.raises(ValueError, match="n_snapshots"):
        ch07.snapshot_epochs(10, 0)
    periphery = ch07.fixed_mask_affinity(_nb("07_learned_masks").base, "masked_periphery")
    patches = ch07.fixed_mask_affinity(_nb("07_learned_masks").base, "random_patches")
    assert periphery["affinity"][0] < patches["affinity"][0]  # objects are central; patches are indifferent
    assert abs(patches["affinity"][0] - 1) < 0.15


def test_fixed_mask_affinity_is_cached_in_a_run(tmp_path, monkeypatch):
    cfg = _nb("07_learned_masks").base
    run = RunStore(tmp_path).open(cfg)
    first = ch07.fixed_mask_affinity(cfg, "masked_periphery", run=run)
    assert len(list(run.dir.glob("fixed-affinity-masked_periphery-*.json"))) == 1
    monkeypatch.setattr(ch07, "_object_test", lambda *a, **k: pytest.fail("test maps loaded again"))
    assert ch07.fixed_mask_affinity(cfg, "masked_periphery", run=run) == first


@pytest.mark.slow
def test_chapter_07_tiny(tmp_path):
    nb = _nb("07_learned_masks", n_masks=2, single=True, n_snapshots=2)
    res = chapters.compute("07_learned_masks", nb, store=RunStore(tmp_path))
    names = [r["condition"] for r in res["table"].rows]
    assert names == list(ch07.conditions(2, True, (1, 2))) + ["raw pixels"]
    assert all(0 <= r["accuracy_mean"] <= 1 for r in res["table"].rows)
    g = res["galleries"]["ADIOS masks, reconstruction"]
    assert g["epochs"] == [1, 2] and len(g["masks"]["1"]) == ch07.N_GALLERY
    assert set(g["affinity"]) == {"1", "2"}
    rows = {r["condition"]: r for r in res["affinity"].rows}
    assert set(ch07.ADIOS_CONDITIONS) <= set(rows) and "random patches" in rows
    assert mask_gallery_figure(g).axes and affinity_figure(res["affinity"]).axes


def test_object_test_uses_rembg_maps_and_the_filter_on_real_images(monkeypatch):
    """On real images the affinity is measured against rembg's maps of the first AFFINITY_N test
    images, keeping those the paper's filter keeps (rembg replaced by a recorder here)."""
    import dataclasses

    from focusmim import data
    from focusmim.data.foreground import load as fg_load

    plain = data.load("synthetic", "test", image_size=32, n=8, seed=0).without_foreground()
    monkeypatch.setattr(fg_load, "load_for_config", lambda cfg, split: plain)
    monkeypatch.setattr(ch07, "AFFINITY_N", 5)
    seen = {}

    def fake_attach(ds, cfg, *, drop, progress, workers=None):
        seen.update(n=len(ds), foreground=cfg.foreground, drop=drop)
        fg = torch.zeros(len(ds), 1, 32, 32, dtype=torch.uint8)
        fg[:3, :, 8:24, 8:24] = 255  # rembg "finds" an object in the first three images only
        return dataclasses.replace(ds.subset(torch.arange(3)), foreground=fg[:3])

    monkeypatch.setattr(fg_load, "attach_foreground", fake_attach)
    cfg = _nb("07_learned_masks").base.replace(dataset="cifar10", data_root=None)
    out = ch07._object_test(cfg)
    assert seen == {"n": 5, "foreground": "rembg", "drop": True}
    assert len(out) == 3 and out.foreground is not None
    assert len(ch07._object_test(cfg, n=2)) == 2
