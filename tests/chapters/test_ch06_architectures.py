"""Tests for focusmim.chapters.ch06_architectures: the grid mapping, warm-up and the chapter at a tiny budget."""
from __future__ import annotations

from functools import partial

import pytest

from focusmim import chapters
from focusmim.chapters import ch06_architectures as ch06
from focusmim.book.plots.learned import architecture_figure
from focusmim.store.runs import RunStore

from tests.chapters.conftest import tiny_notebook

_nb = partial(tiny_notebook, epochs=2)  # chapters 6 and 7 train two epochs


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
