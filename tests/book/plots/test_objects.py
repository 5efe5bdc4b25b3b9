"""Tests for focusmim.book.plots.objects: the figures of chapters 4 and 5."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np
import pytest

from focusmim.chapters import ch04_object_loss as ch04
from focusmim.config import make_config
from focusmim.book.plots.common import image_panel_problems
from focusmim.book.plots import objects as plots


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
