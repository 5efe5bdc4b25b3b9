"""Chapters 6 (ConvNeXt) and 7 (ADIOS) at a tiny budget, and their figures."""
from __future__ import annotations

import pytest
import torch

from focusmim import chapters
from focusmim.chapters import ch06_architectures as ch06
from focusmim.chapters import ch07_learned_masks as ch07
from focusmim.experiments import Table
from focusmim.notebook import setup
from focusmim.plots.learned import affinity_figure, architecture_figure, colour_masks, mask_gallery_figure
from focusmim.runs import RunStore

TINY = dict(epochs=2, n_unlabeled=32, n_labeled=40, n_test=32, batch_size=32, width=0.25)


def _nb(name, **params):
    return setup(name, preset="smoke", seeds=(0,), probe_seeds=(0,), notebook_params=params, **TINY)


def test_registered():
    assert {"06_architectures", "07_learned_masks"} <= set(chapters.REGISTRY.names())


def test_grid_mapping_and_warmup():
    assert ch06.grid_mapping(224) == {"image_size": 224, "final_map": 7, "encoder_patch_px": 32,
                                      "mask_cell_px": 32.0, "masked_fraction": pytest.approx(40 / 49)}
    assert ch06.grid_mapping(96)["final_map"] == 3
    assert ch06.warmup_for(370) == 20 and ch06.warmup_for(100) == 5 and ch06.warmup_for(1) == 0
    with pytest.raises(ValueError, match="image_size"):
        ch06.grid_mapping(8)
    cfg = ch06.convnext_base(_nb("06_architectures").base, 5e-4)
    assert (cfg.model, cfg.optimizer, cfg.weight_decay, cfg.schedule, cfg.lr, cfg.flip) == (
        "convnext_fcmae", "adamw", 0.05, "cosine", 5e-4, True)


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


@pytest.mark.slow
def test_chapter_06_tiny(tmp_path, monkeypatch):
    monkeypatch.setitem(ch06.FINETUNE_DEFAULTS, "smoke", dict(max_epochs=1, patience=1, lr=1e-4))
    nb = _nb("06_architectures", lrs=(1.5e-3,))
    res = chapters.compute("06_architectures", nb, store=RunStore(tmp_path))
    assert [r["strategy"] for r in res["table"].rows] == list(ch06.CONDITIONS)
    for r in res["table"].rows:
        assert 0 <= r["accuracy_mean"] <= 1 and 0 <= r["finetune"] <= 1 and r["lr"] == 1.5e-3
    assert set(res["best"]) == set(ch06.CONDITIONS)
    ae = [{"condition": "random patches", "accuracy_mean": 0.5, "accuracy_std": 0.01}]
    assert len(architecture_figure(res["best"], ae, res["table"].meta).axes[0].patches) >= 4
    with pytest.raises(ValueError, match="lrs"):
        chapters.compute("06_architectures", _nb("06_architectures", lrs=(-1,)), store=RunStore(tmp_path))


def test_plot_helpers_validate():
    img = colour_masks(torch.softmax(torch.rand(3, 8, 8), 0).numpy())
    assert img.shape == (8, 8, 3) and 0 <= img.min() and img.max() <= 1
    with pytest.raises(ValueError, match="masks"):
        colour_masks(torch.rand(8, 8).numpy())
    with pytest.raises(ValueError, match="gallery"):
        mask_gallery_figure({"epochs": []})
    with pytest.raises(ValueError, match="max_affinity"):
        affinity_figure(Table("t", [{"condition": "x"}]))


def test_object_test_uses_rembg_maps_and_the_filter_on_real_images(monkeypatch):
    """On real images the affinity is measured against rembg's maps of the first AFFINITY_N test
    images, keeping those the paper's filter keeps (rembg replaced by a recorder here)."""
    import dataclasses

    from focusmim import data
    from focusmim.foreground import load as fg_load

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
