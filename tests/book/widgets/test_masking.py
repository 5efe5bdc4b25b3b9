"""Tests for focusmim.book.widgets.masking: the masking explorer's render function and model lookup."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402

from focusmim.book.widgets import masking as wm  # noqa: E402


def test_widget_render_and_model_lookup(tmp_path):
    fig = wm.render(torch.rand(3, 96, 96), "masked_periphery", ratio=0.8)
    assert len(fig.axes) == 3 and "80.5% of pixels in the loss" in fig._suptitle.get_text()
    img = torch.rand(3, 32, 32)
    fig = wm.render(img, "masked_periphery", ratio=0.8, center=(0.1, 0.9))  # disc cut by the corner
    assert "center=(0.1, 0.9)" in fig._suptitle.get_text() and "80.5%" not in fig._suptitle.get_text()
    # a model (any callable returning (recon, z)) adds the reconstruction panel
    fig = wm.render(img, "random_patches", ratio=0.5, model=lambda x: (x * 0, None))
    assert [a.get_title() for a in fig.axes][-1] == "reconstruction"
    with pytest.raises(ValueError, match="strategy"):
        wm.render(img, "no_such_mask")
    from focusmim.config import make_config
    from focusmim.store.runs import RunStore

    assert wm.find_model(make_config("smoke"), "foveal", store=RunStore(tmp_path)) is None
    box = wm.explorer(torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8))
    assert type(box).__name__ == "VBox"


def test_a_weightless_stored_run_draws_with_its_zoo_model_and_says_so(tmp_path, monkeypatch):
    from focusmim.store import zoo
    from focusmim.config import make_config
    from focusmim.store.runs import RunStore
    from focusmim.training.train import pretrain

    base = make_config("smoke", epochs=1, n_unlabeled=32, n_labeled=40, n_test=32, batch_size=32, width=0.25)
    store = RunStore(tmp_path / "store")
    run = pretrain(base.replace(masker="masked_periphery"), store, progress=False)
    zoo.add(zoo.export(run, tmp_path / "tiny.safetensors", name="tiny-periphery"), tmp_path / "zoo")
    for p in run.dir.glob("*.pt"):  # the book's store keeps no weights
        p.unlink()
    assert wm.find_model(base, "masked_periphery", store=store) is None  # and the zoo does not have it
    monkeypatch.setenv("FOCUSMIM_ZOO", str(tmp_path / "zoo"))
    model = wm.find_model(base, "masked_periphery", store=store)
    assert model.weights_source["zoo"] == "tiny-periphery"
    title = wm.render(torch.rand(3, 32, 32), "masked_periphery", model=model)._suptitle.get_text()
    assert title.endswith(f"\nreconstruction drawn by the zoo model tiny-periphery (run {run.dir.name}, fp16 weights)")
