"""Tests for focusmim.chapters.ch05_covert_attention: covert inputs, the lattice share, the longer-trained comparison."""

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch

from focusmim.chapters import ch05_covert_attention as ch05
from focusmim.config import make_config
from focusmim.book.plots.common import image_panel_problems
from focusmim.book.plots import objects as plots


def test_covert_inputs_show_the_object_and_hide_the_same_periphery():
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    fg = torch.zeros(3, 1, 32, 32)
    fg[0, 0, 4, 5] = fg[1, 0, 28, 27] = fg[2, 0, 16, 16] = 1.0
    plain, cov = ch05.covert_inputs(x, fg)
    assert cov.visible[0, 0, 4, 5] and cov.visible[1, 0, 28, 27]
    assert not plain.visible[0, 0, 4, 5] and not plain.visible[1, 0, 28, 27]
    assert (cov.visible | ~plain.visible).all()  # the second disc only adds visible pixels
    shown = cov.visible & ~plain.visible
    assert torch.equal(cov.inputs.masked_select(shown.expand_as(x)), x.masked_select(shown.expand_as(x)))
    assert torch.equal(cov.visible[2], plain.visible[2])  # object at the fixation: nothing new


def _metrics(epochs: int) -> dict:
    """A finished run's metrics (valid for the store's checks) with ``epochs`` epochs of 10 s at 10 images/s."""
    return {"finished": True, "images_per_s": [10.0] * epochs, "epoch_time": [10.0] * epochs,
            "loss": [0.1] * epochs, "epochs_done": epochs}


def test_lattice_share_and_the_longer_trained_comparison(tmp_path):
    from focusmim.store.runs import RunStore

    lattice = np.full((2, 3, 8, 8), 100, np.uint8)
    lattice[..., ::2, ::2] = 200  # what an untrained 1x1 stride-2 transposed skip leaves
    smooth = np.tile(np.linspace(0, 255, 8).astype(np.uint8), (2, 3, 8, 1))
    assert ch05.lattice_share(lattice) > 0.99 and ch05.lattice_share(smooth) < 0.1
    assert ch05.lattice_share(lattice.tolist()) == ch05.lattice_share(lattice)  # JSON lists read the same
    with pytest.raises(ValueError, match="images has shape"):
        ch05.lattice_share(np.zeros((3, 7, 7)))
    store = RunStore(tmp_path)
    cfg = make_config("smoke", masker="masked_periphery", foreground="gt", batch_size=10)
    short = store.open(cfg)
    short.save_json("metrics.json", _metrics(1))
    assert ch05.training_steps(short) == 10 and ch05.longer_trained(short, store) is None
    longer = store.open(cfg.replace(foreground="none", epochs=5))  # same masker and data, more steps
    longer.save_json("metrics.json", _metrics(5))
    recon = {"reconstruction": smooth.tolist(), "target": smooth.tolist()}
    longer.save_json("reconstructions-n2-s0.json", recon)
    other = store.open(cfg.replace(masker="random_patches", epochs=9))  # another masker never counts
    other.save_json("metrics.json", _metrics(9))
    other.save_json("reconstructions-n2-s0.json", recon)
    key, steps, got = ch05.longer_trained(short, store)
    assert key == longer.dir.name and steps == 50 and got == recon
    fig = plots.lattice_comparison({"plain_recon": lattice, "target": smooth}, (key, steps, got), n=2)
    assert len(fig.axes) == 8 and image_panel_problems(fig) == []


def test_the_longer_run_prefers_class_spread_examples_and_names_whose_weights_drew_them(tmp_path):
    from focusmim.store.runs import RunStore

    store = RunStore(tmp_path)
    cfg = make_config("smoke", masker="masked_periphery", foreground="gt", batch_size=10)
    short = store.open(cfg)
    short.save_json("metrics.json", _metrics(1))
    longer = store.open(cfg.replace(foreground="none", epochs=5))
    longer.save_json("metrics.json", _metrics(5))
    img = np.tile(np.linspace(0, 255, 8).astype(np.uint8), (2, 3, 8, 1)).tolist()
    longer.save_json("reconstructions-n2-s0.json", {"reconstruction": img, "target": img, "which": "older"})
    weights = {"stand_in": True, "device": "CPU", "final_loss": 0.1, "shown_device": "NVIDIA H100",
               "shown_final_loss": 0.1}
    longer.save_json("reconstructions-n2-s0-0123abcd.json", {"reconstruction": img, "target": img,
                                                              "weights": weights})
    key, steps, got = ch05.longer_trained(short, store)
    assert got["weights"] == weights  # the class-spread cache, not the older one
    fig = plots.lattice_comparison({"plain_recon": img, "target": img}, (key, steps, got), n=2)
    assert "retrain of the same config on CPU" in fig.get_suptitle()


def test_evaluations_made_with_the_argmax_disc_are_not_reused_as_current(tmp_path):
    # Issue 30: the disc on the object moved from the argmax pixel to the object's centre. An error or
    # reconstruction cached before that (older file names) must not pass for the new placement: it is
    # returned only when the run's weights are not here to redo it, and then carries ARGMAX_NOTE.
    from focusmim.experiments import Table
    from focusmim.store.runs import RunStore

    run = RunStore(tmp_path).open(make_config("smoke", masker="masked_periphery", foreground="gt"))
    errors = {"n": 16, "plain": {"foreground": 0.03, "foreground hidden in both": 0.03},
              "covert": {"foreground": 0.02, "foreground hidden in both": 0.03},
              "plain_per_image": [0.03] * 16, "covert_per_image": [0.02] * 16}
    run.save_json("covert-error-best-n16.json", errors)
    got = ch05.evaluate_errors(run, 16)
    assert got["older"] == ch05.ARGMAX_NOTE and got["plain"] == errors["plain"]
    img = np.zeros((1, 3, 8, 8), np.uint8).tolist()
    recon = {k: img for k in ("target", "foreground", "plain_input", "plain_recon", "covert_input", "covert_recon")}
    run.save_json("covert-recon-best-n1.json", recon)  # the first test images, argmax disc
    assert ch05.ARGMAX_NOTE in ch05.reconstructions(run, 1)["older"]
    run.save_json("covert-recon-best-classes-n1.json", recon)  # class-spread examples, argmax disc
    assert ch05.reconstructions(run, 1)["older"] == ch05.ARGMAX_NOTE
    # the error table and its figure say so
    rows = ch05._error_rows({"no second disc": [run]}, 16)
    assert all(r["older"] == ch05.ARGMAX_NOTE for r in rows)
    fig = plots.covert_error_bars(Table("errors", rows, {"older": [ch05.ARGMAX_NOTE]}), caption=False)
    assert ch05.ARGMAX_NOTE in fig.axes[0].get_title()
    # an evaluation cached under the new name is current: no note
    run.save_json("covert-error-centroid-best-n16.json", errors)
    assert "older" not in ch05.evaluate_errors(run, 16)
