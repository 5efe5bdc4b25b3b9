"""Tests for focusmim.models.convnext: the ConvNeXt FCMAE encoder-decoder."""
from __future__ import annotations

import pytest
import torch

from focusmim.models import build

from tests.models.conftest import _rand


# ------------------------------------------------------------ convnext_fcmae
@pytest.fixture(scope="module")
def cnx():
    torch.manual_seed(5)
    return build("convnext_fcmae", width=0.25)


@pytest.mark.parametrize("size", [32, 64])
def test_convnext_native_shapes(cnx, size):
    x = _rand(2, 3, size, size)
    recon, z = cnx(x)
    assert recon.shape == x.shape
    assert z.shape == (2, *cnx.latent_shape(size)) == (2, 128, size // 32, size // 32)
    assert ((recon >= 0) & (recon <= 1)).all()
    assert cnx.decode(z).shape == x.shape  # native: grid * 32 = input size


def test_convnext_decoder_is_one_convnext_block(cnx):
    from timm.models.convnext import ConvNeXtBlock

    enc_blocks = sum(isinstance(m, ConvNeXtBlock) for m in cnx.encoder.modules())
    all_blocks = sum(isinstance(m, ConvNeXtBlock) for m in cnx.modules())
    assert enc_blocks == 12  # pico: depths (2, 2, 6, 2)
    assert all_blocks - enc_blocks == 1
    assert cnx.pred.out_channels == 32 * 32 * 3  # one patch of pixels per grid position


@pytest.mark.parametrize("stem_stride,grid,size,expect", [(1, None, 32, 4), (2, None, 32, 2), (1, 7, 32, 7), (1, 7, 96, 7)])
def test_convnext_grid_options(stem_stride, grid, size, expect):
    torch.manual_seed(6)
    m = build("convnext_fcmae", width=0.125, stem_stride=stem_stride, grid=grid)
    recon, z = m(_rand(1, 3, size, size))
    assert z.shape[-2:] == (expect, expect)
    assert m.latent_shape(size) == tuple(z.shape[1:])
    assert recon.shape == (1, 3, size, size)


def test_convnext_backward_reaches_encoder_and_decoder(cnx):
    cnx.zero_grad(set_to_none=True)
    recon, _ = cnx(_rand(2, 3, 32, 32))
    ((recon - 0.5) ** 2).mean().backward()
    assert cnx.encoder.trunk.stem[0].weight.grad.abs().sum() > 0
    assert cnx.pred.weight.grad.abs().sum() > 0
    assert cnx.proj.weight.grad.abs().sum() > 0
    cnx.zero_grad(set_to_none=True)


def test_convnext_bad_arguments_raise(cnx):
    with pytest.raises(ValueError, match="stem_stride"):
        build("convnext_fcmae", stem_stride=3)
    with pytest.raises(ValueError, match="grid"):
        build("convnext_fcmae", grid=0)
    with pytest.raises(ValueError, match="multiples of 32"):
        cnx(_rand(1, 3, 40, 40))
    with pytest.raises(ValueError, match="image_size"):
        cnx.latent_shape(40)
