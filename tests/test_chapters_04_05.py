"""Chapters 04 (object loss) and 05 (covert attention): parameters, the foreground
error metric, the widget's render function, plots, and both chapters end to end
on a tiny config."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np
import pytest
import torch

from focusmim import chapters, foreground, models
from focusmim.chapters import ch04_object_loss as ch04
from focusmim.chapters import ch05_covert_attention as ch05
from focusmim.config import make_config
from focusmim.plots.common import image_panel_problems
from focusmim.notebook import setup
from focusmim.plots import objects as plots
from focusmim.widgets import covert

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


# --------------------------------------------------------------- widget
def test_render_shapes_and_masking():
    torch.manual_seed(0)
    model = models.build("autoencoder", width=0.25).eval()
    img = (torch.rand(3, 32, 32) * 255).to(torch.uint8)
    out = covert.render(model, img, [None, (0.1, 0.1), (0.9, 0.5)])
    assert out["image"].shape == (32, 32, 3)
    assert out["inputs"].shape == (3, 32, 32, 3) and out["recons"].shape == (3, 32, 32, 3)
    assert out["visible"].shape == (3, 32, 32) and out["visible"].dtype == bool
    assert out["inputs"].dtype == np.float32 and 0 <= out["recons"].min() and out["recons"].max() <= 1
    vis = out["visible"]
    assert vis[1].sum() > vis[0].sum() and vis[1][3, 3] and not vis[0][3, 3]
    # visible pixels are the image; hidden ones are the mean colour
    assert np.allclose(out["inputs"][1][vis[1]], out["image"][vis[1]], atol=1e-6)
    assert np.allclose(out["inputs"][0][~vis[0]], out["image"].mean((0, 1)), atol=1e-5)
    # the reconstruction is the model's output for that input
    with torch.no_grad():
        direct = model(torch.from_numpy(out["inputs"][2]).permute(2, 0, 1)[None])[0][0].permute(1, 2, 0).numpy()
    assert np.allclose(direct, out["recons"][2], atol=1e-5)
    single = covert.render(model, img, (0.5, 0.5))
    assert single["inputs"].shape == (1, 32, 32, 3)
    for bad in [dict(positions=(1.5, 0.2)), dict(positions=[]), dict(ratio=1.0)]:
        with pytest.raises(ValueError):
            covert.render(model, img, **bad)
    with pytest.raises(ValueError, match="image has shape"):
        covert.render(model, torch.rand(32, 32), None)
    fig = covert.still(model, img, foreground=torch.ones(1, 32, 32))
    assert len(fig.axes) == 8


def test_explorer_builds_widgets():
    model = models.build("autoencoder", width=0.25).eval()
    box = covert.explorer(model, torch.rand(2, 3, 32, 32))
    sliders = [c for row in box.children[:2] for c in row.children]
    assert {s.description for s in sliders} == {"image", "second disc", "disc y", "disc x"}


# ---------------------------------------------------------------- plots
def test_plots_from_fabricated_results():
    rows = [dict(strategy=s, loss=l, epoch=e, accuracy_mean=0.3 + 0.01 * e, accuracy_std=0.01)
            for s in ch04.STRATEGIES for l in ch04.LOSSES for e in (1, 2, 5)]
    fig = plots.accuracy_vs_epoch(rows)
    assert len(fig.axes) == 2 and all(len(ax.lines) >= 2 for ax in fig.axes)
    with pytest.raises(ValueError, match="strategies"):
        plots.accuracy_vs_epoch(rows, strategies=["foveal"])
    err_rows = [{"model": m, "input": i, "foreground mean": v, "foreground std": 0.001}
                for m in ("a", "no second disc") for i, v in (("periphery only", 0.03), ("with disc", 0.02))]
    fig = plots.covert_error_bars(err_rows, paper={"without": 0.026, "with": 0.023})
    assert len(fig.axes[0].patches) == 4
    recon = {k: np.zeros((2, 3 if k != "foreground" else 1, 8, 8), np.uint8).tolist()
             for k in ("target", "foreground", "plain_input", "plain_recon", "covert_input", "covert_recon")}
    assert len(plots.covert_reconstructions(recon).axes) == 12
    with pytest.raises(ValueError, match="recon lacks"):
        plots.covert_reconstructions({"target": []})


def test_foreground_gallery_is_not_washed_out_after_a_json_round_trip():
    # the images and maps as JSON gives them back (nested int lists), as the book once stored them
    ex = ch04.foreground_examples(make_config("smoke", foreground="gt", n_unlabeled=8), n=4)
    fig = plots.foreground_gallery(ex["images"].tolist(), {"map": ex["maps"].tolist()}, n=4)
    assert image_panel_problems(fig) == []
    # the check itself fails on the defect: values 0..255 read as floats in [0, 1] clip to white
    washed = plt.figure()
    washed.add_subplot().imshow(np.clip(ex["images"][0].transpose(1, 2, 0).astype(np.float32), 0, 1))
    assert "washed out" in " ".join(image_panel_problems(washed))
    blank = plt.figure()
    blank.add_subplot().imshow(np.zeros((8, 8)), vmin=0, vmax=1)
    assert "blank" in " ".join(image_panel_problems(blank))


def _metrics(epochs: int) -> dict:
    """A finished run's metrics (valid for the store's checks) with ``epochs`` epochs of 10 s at 10 images/s."""
    return {"finished": True, "images_per_s": [10.0] * epochs, "epoch_time": [10.0] * epochs,
            "loss": [0.1] * epochs, "epochs_done": epochs}


def test_lattice_share_and_the_longer_trained_comparison(tmp_path):
    from focusmim.runs import RunStore

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


def test_segmentation_quality_with_a_stand_in_predictor():
    perfect = foreground.segmentation_quality(4, image_size=32, predict=_gt_predictor())
    assert perfect["available"] and perfect["iou_mean"] == pytest.approx(1.0)
    assert perfect["filter_rembg"]["n"] == 4
    empty = foreground.segmentation_quality(4, image_size=32, predict=lambda x: torch.zeros_like(x[:, :1]))
    assert empty["iou_mean"] == pytest.approx(0.0) and empty["filter_rembg"]["dropped"] == 4
    assert len(plots.segmentation_gallery(perfect, n=3).axes) == 9
    with pytest.raises(ValueError, match="n="):
        foreground.segmentation_quality(0)


def _gt_predictor():
    """A 'predictor' returning the synthetic ground truth for the images it gets."""
    from focusmim import data

    ds = data.load("synthetic", "test", image_size=32, n=4, seed=0)
    return lambda x: ds.foreground[: len(x)].clone()


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
    assert (shown.dir / "foreground-examples-n6.npz").exists() and (shown.dir / "filter-counts-gt.json").exists()
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
