"""Plot helpers and chapter 1-3 figures return Figures with the expected marks."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from focusmim.experiments import Table  # noqa: E402
from focusmim.notebook import budget_note  # noqa: E402
from focusmim.plots import common, masking as pm  # noqa: E402
from focusmim.widgets import masking as wm  # noqa: E402

META = {"dataset": "synthetic", "image_size": 32, "epochs": 2, "seeds": [0, 1], "device_name": "CPU",
        "wall_time_s": 90.0}


def _acc_table():
    rows = [{"condition": c, "accuracy_mean": m, "accuracy_std": s}
            for c, m, s in [("random patches", 0.61, 0.02), ("masked periphery", 0.58, 0.01), ("raw pixels", 0.3, 0.0),
                            ("my new idea", 0.5, 0.03)]]
    return Table("strategies", rows, dict(META))


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


def test_bar_chart_validates():
    with pytest.raises(ValueError, match="lengths differ"):
        common.bar_chart(["a", "b"], [0.1])
    with pytest.raises(ValueError, match="conditions"):
        common.table_bars(_acc_table(), conditions=["nope"])


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
    assert len(fig.axes) == 2 * 6
    assert common.to_image(torch.ones(3, 4, 5)).shape == (4, 5, 3)
    assert common.to_image(np.full((4, 5), 255, np.uint8)).max() == 1.0
    with pytest.raises(ValueError, match="image has shape"):
        common.to_image(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="col_labels"):
        common.image_grid([[img[0]]], col_labels=["a", "b"])


def test_budget_text():
    assert common.budget_text(META) == "synthetic 32 px, 2 epochs, pretraining seeds [0, 1], trained on CPU, 1.5 min"
    with pytest.raises(ValueError, match="meta"):
        common.budget_text([1, 2])


def test_caption_comes_from_the_runs_shown_not_the_executing_machine():
    # a chapter executed on a CPU that reads GPU-trained runs from the store (chapter 2 once said 'CPU')
    rows = [dict(condition=c, accuracy_mean=0.4, run_keys=[c], device="NVIDIA H100", wall_time_s=30.0, epochs=10,
                 pretrain_seeds=[0]) for c in ("a", "b")]
    table = Table("t", rows, meta=dict(META, device="cpu", n_unlabeled=None, **{"pretraining seeds": [0, 1, 2]}))
    fig = pm.strategy_bars(table)
    text = " ".join(t.get_text() for t in fig.texts)
    assert "trained on NVIDIA H100" in text and "CPU" not in text and "1.0 min" in text
    assert "pretraining seeds [0]," in text and "10 epochs" in text and "all unlabeled images" in text
    # rows listing the same runs (one per probed epoch) count once; other runs add their epochs and time
    table.rows += [dict(r, epoch=5) for r in rows] + [dict(rows[0], run_keys=["c"], epochs=12, pretrain_seeds=[1])]
    assert common.budget_text(table).endswith("10-12 epochs, pretraining seeds [0, 1], trained on NVIDIA H100, 1.5 min")
    note = budget_note(table)
    assert "40.0-40.0 % against 10 % chance: above chance" in note
    assert "near chance" in budget_note(Table("t", [dict(r, accuracy_mean=0.11) for r in rows]))


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
    from focusmim.runs import RunStore

    assert wm.find_model(make_config("smoke"), "foveal", store=RunStore(tmp_path)) is None
    box = wm.explorer(torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8))
    assert type(box).__name__ == "VBox"
