"""Tests for focusmim.masking.grid: the grid periphery (the central keep x keep of grid x grid cells)."""
from __future__ import annotations

import pytest
import torch

from focusmim import masking
from focusmim.config import make_config


def test_grid_periphery_fractions_and_errors():
    x = torch.rand(2, 3, 224, 224)
    out = masking.build("grid_periphery")(x, None)
    assert out.weight.mean().item() == pytest.approx(40 / 49, abs=1e-6)
    vis = out.visible[0, 0]
    rows = vis.any(1).nonzero().flatten()
    assert rows.min().item() == 64 and rows.max().item() == 159  # patches 2..4 of 32 px
    assert torch.equal(out.inputs[out.visible.expand_as(x)], x[out.visible.expand_as(x)])
    hidden_px = out.inputs[0, :, 0, 0]
    assert torch.allclose(hidden_px, x[0].mean(dim=(1, 2)), atol=1e-6)
    small = masking.build("grid_periphery", keep=3, grid=7)(torch.rand(1, 3, 32, 32), None)
    assert 0.78 < small.weight.mean().item() < 0.86
    for bad in (dict(keep=2, grid=7), dict(keep=7, grid=7), dict(keep=0)):
        with pytest.raises(ValueError, match="keep"):
            masking.build("grid_periphery", **bad)
    cfg = make_config("smoke", masker="grid_periphery")
    assert cfg.masker == "grid_periphery"
