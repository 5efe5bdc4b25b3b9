"""Tests for focusmim.models: the paper's autoencoder, ConvNeXt-FCMAE and the ADIOS UNet."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from focusmim import models
from focusmim.models import build, count_parameters, flops
from focusmim.models.adios_unet import default_num_blocks
from focusmim.models.autoencoder import ResBlock, scaled_channels


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def ae():
    torch.manual_seed(0)  # default PyTorch init draws from the global RNG; fixed for reproducible tests
    return build("autoencoder").eval()


# ----------------------------------------------------------------- registry
def test_registry_lists_all_models():
    assert {"autoencoder", "convnext_fcmae", "adios_unet"} <= set(models.available())


def test_unknown_model_name_raises():
    with pytest.raises(ValueError, match="allowed"):
        build("resnet_nonexistent")


def test_build_for_config_uses_width_and_rejects_mask_net():
    m = models.build_for_config(SimpleNamespace(model="autoencoder", width=0.5))
    assert m.channels == (16, 32, 64)
    with pytest.raises(ValueError, match="model="):
        models.build_for_config(SimpleNamespace(model="adios_unet", width=1.0))


# --------------------------------------------------------------- autoencoder
def test_autoencoder_parameter_counts_match_paper(ae):
    assert count_parameters(ae) == 1_997_466
    assert count_parameters(ae.encoder) == 1_072_608
    assert count_parameters(ae.decoder) == 924_858


def test_autoencoder_builds_only_live_skip_convs(ae):
    # exactly the 3 channel/stride-changing blocks per side have a 1x1 skip
    for part in (ae.encoder, ae.decoder):
        has_skip = [blk.skip is not None for blk in part]
        assert has_skip.count(True) == 3
        for blk in part:
            changes = blk.conv1.in_channels != blk.conv1.out_channels or blk.conv1.stride != (1, 1)
            assert (blk.skip is not None) == changes
    # every conv has a bias, decoder convs are transposed
    convs = [m for m in ae.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(c.bias is not None for c in convs)
    assert all(isinstance(m, nn.ConvTranspose2d) for m in ae.decoder.modules() if isinstance(m, nn.modules.conv._ConvNd))
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) for m in ae.modules())


@pytest.mark.parametrize("size", [32, 96])
def test_autoencoder_shapes_and_ranges(ae, size):
    x = _rand(2, 3, size, size)
    with torch.no_grad():
        recon, z = ae(x)
    assert recon.shape == x.shape
    assert z.shape == (2, *ae.latent_shape(size)) == (2, 128, size // 8, size // 8)
    assert (z >= 0).all()  # post-ReLU latent
    assert ((recon > 0) & (recon < 1)).all()
    with torch.no_grad():
        assert torch.allclose(ae.encode(x), z)
        assert torch.allclose(ae.encoder(x), z)  # the encoder works on its own
        assert torch.allclose(ae.decode(z), recon)


def test_autoencoder_rectangular_latent_shape(ae):
    assert ae.latent_shape((32, 64)) == (128, 4, 8)
    with torch.no_grad():
        assert ae.encode(_rand(1, 3, 32, 64)).shape == (1, 128, 4, 8)


def test_autoencoder_last_block_has_no_relu_before_sigmoid():
    torch.manual_seed(1)
    m = build("autoencoder", width=0.25)
    assert [b.final_relu for b in m.decoder] == [True] * 8 + [False]
    assert all(b.final_relu for b in m.encoder)
    with torch.no_grad():
        m.decoder[-1].conv2.bias.fill_(-5.0)  # pushes pre-sigmoid values negative
        recon, _ = m(_rand(1, 3, 32, 32))
    # a ReLU before the sigmoid would keep every output >= 0.5
    assert (recon < 0.5).float().mean() > 0.5


def test_resblock_transposed_upsamples_exactly_twice():
    blk = ResBlock(8, 4, stride=2, transposed=True)
    assert blk(_rand(1, 8, 5, 7)).shape == (1, 4, 10, 14)
    assert ResBlock(4, 8, stride=2)(_rand(1, 4, 10, 14)).shape == (1, 8, 5, 7)


def test_width_scales_channels():
    assert scaled_channels(1.0) == (32, 64, 128)
    assert scaled_channels(0.5) == (16, 32, 64)
    assert scaled_channels(0.01) == (1, 1, 1)
    m = build("autoencoder", width=0.5)
    assert m.latent_shape(32) == (64, 4, 4)
    assert count_parameters(m) < count_parameters(build("autoencoder")) / 3


@pytest.mark.parametrize("width", [0, -1, 5, "1", True])
def test_bad_width_raises(width):
    with pytest.raises(ValueError, match="width"):
        build("autoencoder", width=width)


def test_bad_input_shape_raises(ae):
    with pytest.raises(ValueError, match="multiples of 8"):
        ae(_rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        ae(_rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="image_size"):
        ae.latent_shape(30)


def test_autoencoder_backward_reaches_every_parameter():
    torch.manual_seed(2)
    m = build("autoencoder", width=0.25)
    recon, z = m(_rand(2, 3, 32, 32))
    ((recon - 0.3) ** 2).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    assert all(p.grad.abs().sum() > 0 for p in m.parameters())


def test_channels_last_matches_contiguous():
    torch.manual_seed(3)
    m = build("autoencoder", width=0.25).eval()
    x = _rand(2, 3, 32, 32)
    with torch.no_grad():
        ref, zr = m(x)
        mcl = m.to(memory_format=torch.channels_last)
        out, z = mcl(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(ref, out, atol=1e-5) and torch.allclose(zr, z, atol=1e-5)


def test_bf16_autocast_cpu_is_finite():
    torch.manual_seed(4)
    m = build("autoencoder", width=0.25)
    x = _rand(2, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        recon, z = m(x)
    assert recon.dtype == torch.bfloat16
    assert torch.isfinite(recon.float()).all() and torch.isfinite(z.float()).all()
    recon.float().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


def test_flops_match_reference(ae):
    # FlopCounterMode counts 2 FLOPs per multiply-accumulate (FLOPs = 2 * MACs)
    total = flops(ae, 96)
    enc = flops(ae, 96, part="encoder")
    assert total == pytest.approx(1.336e9, rel=0.03)
    assert enc == pytest.approx(0.689e9, rel=0.03)
    # cost scales with pixel count
    assert flops(ae, 48) == pytest.approx(total / 4, rel=0.01)


def test_flops_forward_backward_is_about_three_times_forward():
    m = build("autoencoder", width=0.25)
    f = flops(m, 32)
    fb = flops(m, 32, part="forward_backward")
    assert 2.5 * f < fb < 3.2 * f
    assert all(p.grad is None for p in m.parameters())  # probe leaves no gradients behind


def test_flops_bad_arguments_raise(ae):
    with pytest.raises(ValueError, match="part"):
        flops(ae, 32, part="everything")
    with pytest.raises(ValueError, match="image_size"):
        flops(ae, "big")


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


@pytest.mark.parametrize("stride", [1, 2])
def test_pointwise_transposed_matches_conv_transpose_forward_and_backward(stride):
    """The decoder's 1x1 transposed skip (computed without oneDNN's transposed kernel) equals
    nn.ConvTranspose2d with the same weights, values and gradients, also on channels_last input."""
    from focusmim.models.autoencoder import PointwiseTransposed

    torch.manual_seed(0)
    mine = PointwiseTransposed(6, 3, 1, stride=stride, output_padding=stride - 1)
    ref = torch.nn.ConvTranspose2d(6, 3, 1, stride=stride, output_padding=stride - 1)
    ref.load_state_dict(mine.state_dict())
    for fmt in (torch.contiguous_format, torch.channels_last):
        # the reference always runs on the default layout: on channels_last input, torch 2.14.1's own CPU
        # ConvTranspose2d (oneDNN) returns a wrong weight gradient for this layer (measured: off by up to 31
        # where the gradient is about 28) - one more reason this layer is computed another way
        x = torch.randn(4, 6, 7, 7)
        xa, xb = x.clone().contiguous(memory_format=fmt).requires_grad_(), x.clone().requires_grad_()
        ya, yb = mine(xa), ref(xb)
        assert ya.shape == yb.shape == (4, 3, 7 * stride, 7 * stride)
        assert torch.allclose(ya, yb, atol=1e-6)
        g = torch.randn_like(ya)
        ga = torch.autograd.grad(ya, [xa, mine.weight, mine.bias], g)
        gb = torch.autograd.grad(yb, [xb, ref.weight, ref.bias], g)
        for a, b in zip(ga, gb):
            assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="output_padding"):
        PointwiseTransposed(6, 3, 1, stride=2, output_padding=0)


def test_pointwise_strided_matches_conv2d_forward_and_backward():
    """The encoder's 1x1 strided skip (a 1x1 conv of the even pixels) equals nn.Conv2d with stride 2,
    values and gradients, also on channels_last input."""
    from focusmim.models.autoencoder import PointwiseStrided

    torch.manual_seed(1)
    mine = PointwiseStrided(3, 8, 1, stride=2)
    ref = torch.nn.Conv2d(3, 8, 1, stride=2)
    ref.load_state_dict(mine.state_dict())
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(4, 3, 9, 9).contiguous(memory_format=fmt)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = mine(xa), ref(xb)
        assert ya.shape == yb.shape == (4, 8, 5, 5) and torch.allclose(ya, yb, atol=1e-6)
        g = torch.randn_like(ya)
        for a, b in zip(torch.autograd.grad(ya, [xa, mine.weight, mine.bias], g),
                        torch.autograd.grad(yb, [xb, ref.weight, ref.bias], g)):
            assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="kernel_size"):
        PointwiseStrided(3, 8, 3, stride=2)


def test_channels_last_training_step_matches_default_layout():
    """One fp32 training step in channels_last gives the same loss and gradients as the default
    layout (the CPU bf16 path runs channels_last)."""
    torch.manual_seed(2)
    a = build("autoencoder", width=0.25)
    b = build("autoencoder", width=0.25)
    b.load_state_dict(a.state_dict())
    b = b.to(memory_format=torch.channels_last)
    x = torch.rand(4, 3, 32, 32)
    la = torch.nn.functional.mse_loss(a(x)[0], x)
    lb = torch.nn.functional.mse_loss(b(x.contiguous(memory_format=torch.channels_last))[0], x)
    la.backward()
    lb.backward()
    assert torch.allclose(la, lb, atol=1e-6)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-5)
