"""Tests for focusmim.models.adios_unet: the ADIOS mask network."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from focusmim.models import build
from focusmim.models.adios_unet import default_num_blocks

from tests.models.conftest import _rand


# --------------------------------------------------------------- adios_unet
def test_default_num_blocks_follows_image_size():
    assert default_num_blocks(96) == 5
    assert default_num_blocks(32) == 4
    assert default_num_blocks(16) == 3
    with pytest.raises(ValueError, match="image_size"):
        default_num_blocks(0)


@pytest.mark.parametrize("size,n", [(32, 4), (96, 6)])
def test_adios_masks_partition_every_pixel(size, n):
    torch.manual_seed(7)
    net = build("adios_unet", n_masks=n, image_size=size, filter_start=8 if size == 96 else 16)
    masks = net(_rand(2, 3, size, size))
    assert masks.shape == (2, n, size, size) and masks.dtype == torch.float32
    assert (masks >= 0).all()
    assert torch.allclose(masks.sum(1), torch.ones(2, size, size), atol=1e-5)
    assert sum(isinstance(m, nn.GroupNorm) and m.num_groups == 8 for m in net.modules()) == 2 * net.num_blocks


def test_adios_masks_depend_on_image_and_gradients_flow():
    torch.manual_seed(8)
    net = build("adios_unet", n_masks=3, image_size=32, filter_start=8)
    x = _rand(2, 3, 32, 32)
    masks = net(x)
    assert not torch.allclose(masks[0], masks[1])
    w = torch.randn(masks.shape, generator=torch.Generator().manual_seed(1))
    (masks * w).sum().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert net.head.weight.grad.abs().sum() > 0
    assert net.down[0][0].weight.grad.abs().sum() > 0  # through the whole UNet


def test_adios_bad_arguments_raise():
    with pytest.raises(ValueError, match="n_masks"):
        build("adios_unet", n_masks=0, image_size=32)
    with pytest.raises(ValueError, match="filter_start"):
        build("adios_unet", image_size=32, filter_start=12)
    with pytest.raises(ValueError, match="multiple of 16"):
        build("adios_unet", image_size=40, num_blocks=5)
    net = build("adios_unet", image_size=32, filter_start=8)
    with pytest.raises(ValueError, match="image_size"):
        net(_rand(1, 3, 64, 64))
