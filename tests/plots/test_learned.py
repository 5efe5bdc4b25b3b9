"""Tests for focusmim.plots.learned: mask colouring and the checks of chapter 6's and 7's figures."""
from __future__ import annotations

import pytest
import torch

from focusmim.experiments import Table
from focusmim.plots.learned import affinity_figure, colour_masks, mask_gallery_figure


def test_plot_helpers_validate():
    img = colour_masks(torch.softmax(torch.rand(3, 8, 8), 0).numpy())
    assert img.shape == (8, 8, 3) and 0 <= img.min() and img.max() <= 1
    with pytest.raises(ValueError, match="masks"):
        colour_masks(torch.rand(8, 8).numpy())
    with pytest.raises(ValueError, match="gallery"):
        mask_gallery_figure({"epochs": []})
    with pytest.raises(ValueError, match="max_affinity"):
        affinity_figure(Table("t", [{"condition": "x"}]))
