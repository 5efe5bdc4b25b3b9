"""Tests for focusmim.book.plots.learned: mask colouring and the checks of chapter 6's and 7's figures."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from focusmim.experiments import Table
from focusmim.book.plots.common import PALETTE
from focusmim.book.plots.learned import affinity_figure, architecture_figure, colour_masks, mask_gallery_figure


def test_plot_helpers_validate():
    img = colour_masks(torch.softmax(torch.rand(3, 8, 8), 0).numpy())
    assert img.shape == (8, 8, 3) and 0 <= img.min() and img.max() <= 1
    with pytest.raises(ValueError, match="masks"):
        colour_masks(torch.rand(8, 8).numpy())
    with pytest.raises(ValueError, match="gallery"):
        mask_gallery_figure({"epochs": []})
    with pytest.raises(ValueError, match="max_affinity"):
        affinity_figure(Table("t", [{"condition": "x"}]))


def test_colour_masks_paints_each_mask_in_its_palette_colour():
    one_hot = np.zeros((3, 2, 3), np.float32)
    one_hot[0, :, 0] = one_hot[1, :, 1] = one_hot[2, :, 2] = 1
    img = colour_masks(one_hot)
    cols = [np.array([int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)]) for c in PALETTE[:3]]
    for k in range(3):
        assert np.allclose(img[:, k], cols[k], atol=1e-6)
    assert np.allclose(colour_masks((one_hot * 255).astype(np.uint8)), img, atol=1e-6)  # uint8 reads as [0, 1]
    many = np.zeros((len(PALETTE) + 1, 1, 1), np.float32)
    many[-1] = 1
    assert np.allclose(colour_masks(many)[0, 0], cols[0], atol=1e-6)  # colours repeat after the palette


def test_affinity_and_architecture_figures_draw_the_rows():
    t = Table("affinity", [{"condition": "random patches", "max_affinity": 1.0}, {"condition": "no number"},
                           {"condition": "ADIOS masks", "max_affinity": 1.6}])
    ax = affinity_figure(t).axes[0]
    assert sorted(round(p.get_height(), 6) for p in ax.patches) == [1.0, 1.6]  # rows without a number are left out
    best = {"random patches": {"accuracy_mean": 0.5, "accuracy_std": 0.01, "finetune": 0.6},
            "periphery (central 3x3 of 7x7)": {"accuracy_mean": 0.4, "finetune": 0.55}}
    ax = architecture_figure(best).axes[0]
    assert sorted(round(p.get_height(), 6) for p in ax.patches) == [40.0, 50.0, 55.0, 60.0]  # in percent
    ae = [{"condition": "masked periphery", "accuracy_mean": 0.3, "accuracy_std": 0.02}]
    ax = architecture_figure(best, ae).axes[0]
    heights = [round(p.get_height(), 6) for p in ax.patches]
    assert 30.0 in heights and len(ax.patches) == 6  # chapter 1's periphery row lands on the 3x3-of-7x7 strategy
