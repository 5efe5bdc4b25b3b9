"""Tests for focusmim.book.plots.masking: the figures of chapters 1-3 return Figures with the expected marks."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from focusmim.experiments import Table  # noqa: E402
from focusmim.book.plots import common, masking as pm  # noqa: E402

from tests.book.plots.plottools import META, _acc_table


def test_bar_chart_values_and_paper_markers():
    fig = pm.strategy_bars(_acc_table())
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([61, 58, 30, 50])
    # diamonds only where the paper has a value (3 of the 4 conditions), at the paper's numbers
    (marks,) = [ln for ln in ax.lines if ln.get_marker() == "D"]
    assert list(marks.get_xdata()) == [0, 1, 2]
    assert list(marks.get_ydata()) == pytest.approx([70.2, 67.9, 35.9])
    assert any("synthetic 32 px" in t.get_text() for t in fig.texts)  # provenance caption


def test_line_plot_and_sweep():
    rows = [{"condition": f"{s}, ratio {r}", "strategy": s, "ratio": r, "accuracy_mean": a, "accuracy_std": 0.01}
            for s in ("random patches", "masked periphery") for r, a in ((0.2, 0.4), (0.8, 0.5))]
    fig = pm.ratio_sweep(Table("sweep", rows, dict(META)))
    ax = fig.axes[0]
    assert ax.get_xlabel() == "masking ratio"
    ys = sorted(round(float(y), 1) for ln in ax.lines if ln.get_marker() == "D" for y in ln.get_ydata())
    assert ys == [67.9, 70.2]


def test_grouped_bars_and_crop_figure():
    res = {"groups": ["random patches", "masked periphery", "foveal filter"],
           "series": {"crop": ([0.6, 0.55, 0.4], [0.01, 0.01, 0.01]), "no crop": ([0.6, 0.45, None], None)}}
    fig = pm.crop_bars(res, META)
    ax = fig.axes[0]
    assert len(ax.patches) == 6
    ys = sorted(round(float(y), 1) for ln in ax.lines if ln.get_marker() == "D" for y in ln.get_ydata())
    assert ys == [49.9, 56.7, 67.9, 70.2, 70.2]  # every (strategy, crop) pair the paper gives
    assert isinstance(pm.fixed_mask_bars({"groups": ["random patches", "fixed random patches"],
                                          "series": {"crop": ([0.6, 0.6], None)}}), Figure)


def test_decorrelation_figures():
    rows = [{"condition": c, "n": 512, "d": 1024, "decorrelation_mean": v, "decorrelation_std": 0.1,
             "lifetime_sparsity_mean": 0.3, "lifetime_sparsity_std": 0.01, "population_sparsity_mean": 0.5,
             "population_sparsity_std": 0.02} for c, v in (("random patches", 2.0), ("foveal filter", 4.0))]
    t = Table("dec", rows, dict(META))
    fig = pm.decorrelation_bars(t)
    assert "N=512" in fig.axes[0].get_ylabel()
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx([2.0, 4.0])
    assert len(pm.sparsity_bars(t).axes[0].patches) == 4
    fig = pm.decorrelation_curves({"random patches": [[3, 2, 1], [3, 2.5, 1.5]]}, n=512)
    line = fig.axes[0].lines[0]  # the data line (errorbar adds cap markers after it)
    assert list(line.get_ydata()) == pytest.approx([3, 2.25, 1.25])
    with pytest.raises(ValueError):
        pm.decorrelation_curves({})


def test_reconstruction_grid_and_image_helpers():
    img = (np.random.default_rng(0).random((2, 3, 16, 16)) * 255).astype(np.uint8).tolist()
    rec = {"a": {"masked": img, "reconstruction": img, "target": img}, "b": {"masked": img, "reconstruction": img,
                                                                         "target": img}}
    fig = pm.reconstruction_grid(rec)
    assert len(fig.axes) == 2 * 6 and fig.get_suptitle() == ""
    w = {"stand_in": True, "device": "CPU", "final_loss": 0.02, "shown_device": "NVIDIA H100", "shown_final_loss": 0.02}
    both = pm.reconstruction_grid({"a": dict(rec["a"], weights=w), "b": dict(rec["b"], weights=w)}).get_suptitle()
    assert both.startswith("Reconstructions drawn by retrains of the same configs on CPU")
    mixed = pm.reconstruction_grid({"a": dict(rec["a"], weights=w), "b": dict(rec["b"], older="older ones")})
    assert mixed.get_suptitle().replace("\n", " ") == (
        "b: examples are older ones; a: reconstructions drawn by a retrain of the same config on CPU (the NVIDIA "
        "H100 run shown kept no weights); final training loss within 0.0 % of that run")
    z = {"zoo": "imagenette96-random-patches", "key": "9f94b16126a9ef45", "precision": "fp16"}
    zoo = pm.reconstruction_grid({"a": dict(rec["a"], weights=z), "b": rec["b"]}).get_suptitle().replace("\n", " ")
    assert zoo == ("a: reconstructions drawn by the zoo model imagenette96-random-patches (run 9f94b16126a9ef45, "
                   "fp16 weights)")
    assert common.to_image(torch.ones(3, 4, 5)).shape == (4, 5, 3)
    assert common.to_image(np.full((4, 5), 255, np.uint8)).max() == 1.0
    with pytest.raises(ValueError, match="image has shape"):
        common.to_image(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="col_labels"):
        common.image_grid([[img[0]]], col_labels=["a", "b"])
