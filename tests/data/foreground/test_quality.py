"""Tests for focusmim.data.foreground.quality: IoU and u2netp against the synthetic ground truth."""
from __future__ import annotations

import pytest
import torch

from focusmim.data import foreground as S
from focusmim.book.plots import objects as plots


def test_iou_values():
    a = torch.zeros(3, 1, 4, 4)
    b = torch.zeros(3, 1, 4, 4)
    a[0, :, :2, :] = 1  # top half vs left half: 4 / 12
    b[0, :, :, :2] = 1
    a[1] = 1  # identical
    b[1] = 1
    # image 2: both empty -> 1
    r = S.iou(a, b)
    assert r.per_image.tolist() == pytest.approx([1 / 3, 1.0, 1.0])
    assert r.mean == pytest.approx((1 / 3 + 2) / 3)
    # uint8 maps binarise at ceil(255 * threshold) and agree with floats
    r8 = S.iou((a * 255).to(torch.uint8), b)
    assert torch.allclose(r8.per_image, r.per_image)
    # disjoint masks -> 0; soft values below the threshold are background
    c = torch.zeros(1, 1, 4, 4)
    c[..., 0, 0] = 0.4
    d = torch.zeros(1, 1, 4, 4)
    d[..., 0, 0] = 1
    assert S.iou(c, d).per_image.tolist() == [0.0]
    assert S.iou(c, d, threshold=0.3).per_image.tolist() == [1.0]


def test_iou_rejects_bad_input():
    with pytest.raises(ValueError, match="equal shapes"):
        S.iou(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="threshold"):
        S.iou(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), threshold=2)
    with pytest.raises(ValueError, match="pred_fg"):
        S.iou(torch.zeros(1, 4, 4), torch.zeros(1, 1, 4, 4))


def test_segmentation_quality_scores_a_perfect_and_an_empty_predictor():
    from focusmim import data

    gt = data.load("synthetic", "test", image_size=32, n=3, seed=0).foreground
    perfect = S.segmentation_quality(3, image_size=32, predict=lambda x: gt[: len(x)].clone(), n_show=2)
    assert perfect["available"] and perfect["iou_mean"] == pytest.approx(1.0) and perfect["model"] == "fake"
    assert perfect["filter_rembg"] == perfect["filter_gt"] and len(perfect["examples"]["rembg"]) == 2
    empty = S.segmentation_quality(3, image_size=32, predict=lambda x: torch.zeros_like(x[:, :1]))
    assert empty["iou_per_image"] == [0.0, 0.0, 0.0] and empty["filter_rembg"]["kept"] == 0
    with pytest.raises(ValueError, match="threshold"):
        S.segmentation_quality(3, threshold=0)


def test_segmentation_quality_reports_missing_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    r = S.segmentation_quality(2, image_size=32)
    assert r["available"] is False and "u2netp" in r["reason"]


# moved from tests/test_chapters_04_05.py
def test_segmentation_quality_with_a_stand_in_predictor():
    perfect = S.segmentation_quality(4, image_size=32, predict=_gt_predictor())
    assert perfect["available"] and perfect["iou_mean"] == pytest.approx(1.0)
    assert perfect["filter_rembg"]["n"] == 4
    empty = S.segmentation_quality(4, image_size=32, predict=lambda x: torch.zeros_like(x[:, :1]))
    assert empty["iou_mean"] == pytest.approx(0.0) and empty["filter_rembg"]["dropped"] == 4
    assert len(plots.segmentation_gallery(perfect, n=3).axes) == 9
    with pytest.raises(ValueError, match="n="):
        S.segmentation_quality(0)


def _gt_predictor():
    """A 'predictor' returning the synthetic ground truth for the images it gets."""
    from focusmim import data

    ds = data.load("synthetic", "test", image_size=32, n=4, seed=0)
    return lambda x: ds.foreground[: len(x)].clone()
