"""Tests for focusmim.masking.grid: the grid periphery (the central keep x keep of grid x grid cells)."""
from __future__ import annotations

import pytest
import torch

from focusmim import masking
from focusmim.masking.grid import grid_visible
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


def test_grid_visible_is_the_centred_block_of_cells_and_cached():
    vis = grid_visible(14, 21, grid=7, keep=3)[0, 0]
    rows, cols = vis.any(1).nonzero().flatten(), vis.any(0).nonzero().flatten()
    assert rows.tolist() == list(range(4, 10))  # cells 2..4 of 2 px
    assert cols.tolist() == list(range(6, 15))  # cells 2..4 of 3 px
    assert int(vis.sum()) == 6 * 9 and vis[4:10, 6:15].all()
    assert grid_visible(14, 21, grid=7, keep=3) is grid_visible(14, 21, grid=7, keep=3)
    assert int(grid_visible(10, 10, grid=5, keep=1).sum()) == 4  # the one centre cell of 2x2 px


def test_grid_periphery_needs_no_generator_and_a_big_enough_image():
    x = torch.rand(3, 3, 21, 21)
    m = masking.build("grid_periphery")
    a, b = m(x, None), m(x, torch.Generator().manual_seed(5))
    assert torch.equal(a.weight, b.weight) and torch.equal(a.inputs, b.inputs)
    assert torch.equal(a.visible, ~a.weight.bool())
    with pytest.raises(ValueError, match="at least 12"):  # every masker's minimum
        m(torch.rand(1, 3, 12, 6), None)
    with pytest.raises(ValueError, match=r"at least 15 px per side \(grid=15\)"):  # a finer grid needs more
        masking.build("grid_periphery", keep=1, grid=15)(torch.rand(1, 3, 14, 14), None)
    for bad in (dict(keep=1.0), dict(grid=True), dict(keep=3, grid=6)):
        with pytest.raises(ValueError, match="not allowed"):
            masking.build("grid_periphery", **bad)
