"""Tests for focusmim.chapters.ch04_object_loss (and chapter 5's reuse of its runs, end to end on a tiny config)."""

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest

from focusmim import chapters
from focusmim.chapters import ch04_object_loss as ch04
from focusmim.chapters import ch05_covert_attention as ch05
from focusmim.book.plots.common import image_panel_problems
from focusmim.book.notebook import setup
from focusmim.book.plots import objects as plots


TINY = dict(epochs=1, n_unlabeled=64, n_labeled=60, n_test=40, batch_size=32, width=0.25)


# ------------------------------------------------------------------ parameters
def test_resolve_foreground_and_probe_epochs():
    assert ch04.resolve_foreground(None, "synthetic") == "gt"
    assert ch04.resolve_foreground(None, "stl10") == "rembg"
    assert ch04.resolve_foreground("rembg", "synthetic") == "rembg"
    with pytest.raises(ValueError, match="foreground='none'"):
        ch04.resolve_foreground("none", "synthetic")
    with pytest.raises(ValueError, match="dataset='cifar10'"):
        ch04.resolve_foreground("gt", "cifar10")
    assert ch04.resolve_probe_epochs((50, 100, 250, 500), 500) == (50, 100, 250, 500)
    assert ch04.resolve_probe_epochs((3, 1, 9), 4) == (1, 3, 4)
    assert ch04.resolve_probe_epochs(None, 3) == (3,)
    with pytest.raises(ValueError, match="probe_epochs"):
        ch04.resolve_probe_epochs((0, 2), 3)


def test_conditions_pair_each_strategy_with_both_losses():
    c = ch04.conditions("rembg")
    assert len(c) == 4
    for strategy, over in ch04.STRATEGIES.items():
        # both train on the images rembg's filter keeps; only the object loss is weighted by the maps
        assert c[f"{strategy}, loss on everything"] == dict(over, foreground="rembg", foreground_loss=False)
        assert c[f"{strategy}, loss on the object"] == dict(over, foreground="rembg")
        assert ch04.conditions("gt")[f"{strategy}, loss on everything"] == dict(over, foreground="none")
    with pytest.raises(ValueError, match="foreground"):
        ch04.conditions("none")
    p = ch05.probe_conditions("gt")
    assert {v["masker"] for v in p.values()} == {"masked_periphery", "covert_attention"}
    assert all(v["foreground"] == "gt" for v in p.values())


# ---------------------------------------------------------- end to end
@pytest.mark.slow
def test_chapters_04_and_05_end_to_end(tmp_path):
    params = dict(foreground=None, probe_epochs=(1, 5), iou_n=1, n_eval=16)
    nb = setup("04_object_loss", preset="smoke", seeds=(0,), probe_seeds=(0,), notebook_params=params, **TINY)
    res = chapters.compute("04_object_loss", nb, progress=False)
    assert res["foreground"] == "gt" and res["probe_epochs"] == (1,)  # epoch 5 is never reached
    rows = res["curves"].rows
    assert len(rows) == 4 and {r["epoch"] for r in rows} == {1}
    assert all(0 <= r["accuracy_mean"] <= 1 for r in rows)
    assert len(res["final"]) == 4 and res["filter"]["n"] == 64
    ex = res["examples"]
    assert ex["maps"].shape == (6, 1, 32, 32) and ex["images"].dtype == np.uint8 == ex["maps"].dtype
    shown = res["runs"]["random patches, loss on the object"][0]
    assert (shown.dir / "foreground-examples-spread-n6.npz").exists() and (shown.dir / "filter-counts-gt.json").exists()
    fig = plots.foreground_gallery(ex["images"], {"map": ex["maps"]})
    assert image_panel_problems(fig) == []  # the chapter's figure: no washed-out or blank panel
    plots.accuracy_vs_epoch(res["curves"])
    a = ch04.agreement(res["final"])
    assert set(a["gains"]) == set(ch04.STRATEGIES)
    # snapshots really exist for every probed epoch
    for rs in res["runs"].values():
        assert (rs[0].dir / "epoch0001.pt").exists()

    nb5 = setup("05_covert_attention", preset="smoke", seeds=(0,), probe_seeds=(0,), notebook_params=params, **TINY)
    res5 = chapters.compute("05_covert_attention", nb5, progress=False)
    # the periphery run is chapter 04's (same config, same folder)
    assert res5["runs"]["no second disc"][0].dir == res["runs"]["masked periphery, loss on the object"][0].dir
    assert len(res5["errors"].rows) == 6 and len(res5["probe"].rows) == 3
    for r in res5["errors"].rows:
        assert r["foreground mean"] > 0 and r["foreground hidden in both mean"] > 0 and r["n"] == 16
    run = res5["runs"]["no second disc"][0]
    assert any(p.name.startswith("covert-error-") for p in run.dir.iterdir())
    # cached: a second call reads the stored numbers back
    cached = sorted(p for p in run.dir.iterdir() if p.name.startswith("covert-error-"))
    mtime = cached[0].stat().st_mtime_ns
    again = ch05.evaluate_errors(run, 16)
    assert cached[0].stat().st_mtime_ns == mtime
    row = next(r for r in res5["errors"].rows if r["model"] == "no second disc" and r["input"] == "periphery only")
    assert again["plain"]["foreground"] == pytest.approx(row["foreground mean"])
    assert np.asarray(res5["recon"]["covert_recon"]).shape == (4, 3, 32, 32)
    ag = ch05.agreement(res5["errors"], res5["probe"])
    assert isinstance(ag["disc lowers the error"], bool)
    plots.covert_error_bars(res5["errors"], paper=res5["paper"])
    plots.covert_probe_bars(res5["probe"])


def test_examples_are_spread_over_the_split_not_its_first_images():
    """CIFAR-10's folders are stored in class order: the first images of a split are all airplanes."""
    from focusmim.chapters.ch04_object_loss import foreground_examples, spread_positions
    from focusmim.config import make_config
    from focusmim.data import load_for_config

    assert spread_positions(10000, 6).tolist() == [0, 1666, 3333, 5000, 6666, 8333]
    assert spread_positions(0, 3).tolist() == [] and spread_positions(2, 3).tolist() == [0, 1]
    cfg = make_config("smoke", foreground="gt", n_unlabeled=40)
    ex = foreground_examples(cfg, n=4)
    ds = load_for_config(cfg, "unlabeled")
    assert (ex["images"] == ds.images[[0, 10, 20, 30]].numpy()).all()
    assert not (ex["images"] == ds.images[:4].numpy()).all()
