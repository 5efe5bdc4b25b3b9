"""Tests of focusmim.book.headline: the headline rows and figure."""
from __future__ import annotations


from focusmim.book import report
from tests.book.reporttools import META, _own_results, _row, _seeds, _store  # noqa: F401


def test_the_headline_figure_shows_one_tier_and_says_which(tmp_path):
    rows = [{"condition": "random patches", "ours": 0.5, "std": 0.01, "paper": 0.702, "preset": "imagenette",
             "dataset": "imagenette", "image_size": 96, "epochs": 50},
            {"condition": "random patches, no crop", "ours": 0.4, "std": 0.01, "paper": 0.702, "preset": "gpu",
             "dataset": "cifar10", "image_size": 32, "epochs": 10}]
    assert report.figure_rows(rows) == rows[:1]
    fig = report.headline_figure(rows)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["random patches"]
    assert ax.get_title() == "One tier only: imagenette tier (imagenette 96 px, 50 epochs)"
    _store("imagenette", "01_masking_strategy", [_seeds("random patches", [0.5, 0.51, 0.52],
                                                        decorrelation_epochs=[49, 47, 50], epochs=50)],
           {**META, "dataset": "imagenette", "epochs": 50})
    _store("gpu", "03_augmentation", [_row("random patches, no crop", 0.4, epochs=10)],
           {**META, "dataset": "cifar10", "image_size": 32})
    text = report.write_summary(tmp_path / "results.md").read_text()
    assert ("The figure shows one tier only, the largest: the imagenette tier (imagenette 96 px, 50 epochs); "
            "random patches, no crop (measured only at a smaller tier) are in the table above") in text
    assert ("Ours are each run's lowest-training-loss checkpoint, not its last epoch: 01_masking_strategy "
            "(imagenette, 50 epochs): epochs 47-50.") in text


def test_a_curves_raw_pixel_row_has_no_pretraining():
    from focusmim.book.report import _budget

    meta = {"dataset": "imagenette", "image_size": 96, "epochs": 50, "device_name": "NVIDIA H200"}
    assert _budget(meta, {"condition": "raw pixels", "epoch": 50, "checkpoint": "none", "pretrain_seeds": []}) == (
        "imagenette 96 px, no pretraining")
