"""Tests for focusmim.training.losses."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from focusmim.training.losses import adios_sparsity, masked_mse, nt_xent


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- masked_mse
def test_masked_mse_equals_plain_mse_for_unit_weight():
    p, t = torch.rand(3, 3, 8, 8, generator=_g(0)), torch.rand(3, 3, 8, 8, generator=_g(1))
    ref = F.mse_loss(p, t)
    assert torch.allclose(masked_mse(p, t, torch.ones(3, 1, 8, 8)), ref)
    assert torch.allclose(masked_mse(p, t, torch.ones(3, 3, 8, 8)), ref)
    assert torch.allclose(masked_mse(p, t), ref)


def test_masked_mse_ignores_zero_weight_pixels():
    p, t = torch.rand(2, 3, 8, 8, generator=_g(0)), torch.rand(2, 3, 8, 8, generator=_g(1))
    w = (torch.rand(2, 1, 8, 8, generator=_g(2)) > 0.5).float()
    base = masked_mse(p, t, w)
    p2 = p + (1 - w) * 100.0  # wild changes only where w = 0
    assert torch.allclose(masked_mse(p2, t, w), base)
    # and equals the MSE over the selected pixels only
    sel = w.expand_as(p).bool()
    assert torch.allclose(base, ((p - t)[sel] ** 2).mean())


def test_masked_mse_partial_weights_are_a_weighted_mean():
    p = torch.zeros(1, 3, 1, 2)
    t = torch.zeros(1, 3, 1, 2)
    t[..., 0] = 1.0  # squared error 1 at pixel 0
    t[..., 1] = 2.0  # squared error 4 at pixel 1
    w = torch.tensor([[[[0.25, 0.75]]]])
    assert masked_mse(p, t, w).item() == pytest.approx((0.25 * 1 + 0.75 * 4) / 1.0)
    # scaling all weights does not change the mean
    assert masked_mse(p, t, 3 * w).item() == pytest.approx(masked_mse(p, t, w).item())
    # lowering the weight of the bad pixel lowers the loss
    assert masked_mse(p, t, torch.tensor([[[[0.75, 0.25]]]])) < masked_mse(p, t, w)


def test_masked_mse_pools_over_batch_not_per_image():
    p = torch.zeros(2, 3, 2, 2)
    t = torch.ones(2, 3, 2, 2)
    t[1] = 0.0
    w = torch.zeros(2, 1, 2, 2)
    w[0, :, 0, 0] = 1  # one pixel of image 0 (error 1)
    w[1] = 1  # all four pixels of image 1 (error 0)
    # pooled: 3 error units over 5 weighted pixels * 3 channels; a per-image mean would give 0.5
    assert masked_mse(p, t, w).item() == pytest.approx(3 / 15)


def test_masked_mse_gradient_is_zero_outside_weight():
    p = torch.rand(1, 3, 4, 4, generator=_g(0)).requires_grad_()
    t = torch.rand(1, 3, 4, 4, generator=_g(1))
    w = torch.zeros(1, 1, 4, 4)
    w[..., :2, :] = 1
    masked_mse(p, t, w).backward()
    assert (p.grad[..., 2:, :] == 0).all() and (p.grad[..., :2, :] != 0).any()


def test_masked_mse_empty_weight():
    p, t = torch.rand(1, 3, 4, 4, generator=_g(0)), torch.rand(1, 3, 4, 4, generator=_g(1))
    w = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="weight"):
        masked_mse(p, t, w)
    lenient = masked_mse(p.requires_grad_(), t, w, strict=False)
    assert lenient.item() == 0.0
    lenient.backward()
    assert (p.grad == 0).all()


def test_masked_mse_bf16_inputs_are_computed_in_float32():
    p, t = torch.rand(2, 3, 4, 4, generator=_g(0)), torch.rand(2, 3, 4, 4, generator=_g(1))
    out = masked_mse(p.bfloat16(), t, torch.ones(2, 1, 4, 4))
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(F.mse_loss(p.bfloat16().float(), t).item(), rel=1e-5)


def test_masked_mse_bad_shapes_raise():
    p = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match="pred"):
        masked_mse(p, torch.rand(2, 3, 4, 5), None)
    with pytest.raises(ValueError, match="weight"):
        masked_mse(p, p, torch.ones(2, 2, 4, 4))
    with pytest.raises(ValueError, match="weight"):
        masked_mse(p, p, torch.ones(1, 1, 4, 4))


# -------------------------------------------------------------------- nt_xent
def _nt_xent_reference(z1, z2, t):
    """Slow per-anchor loop, written straight from the SimCLR definition."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z.shape[0]
    b = n // 2
    total = 0.0
    for i in range(n):
        j = (i + b) % n
        num = math.exp((z[i] @ z[j]).item() / t)
        den = sum(math.exp((z[i] @ z[k]).item() / t) for k in range(n) if k != i)
        total += -math.log(num / den)
    return total / n


def test_nt_xent_matches_definition():
    z1, z2 = torch.randn(5, 7, generator=_g(0)), torch.randn(5, 7, generator=_g(1))
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(_nt_xent_reference(z1, z2, 0.5), rel=1e-5)
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(nt_xent(z2, z1, 0.5).item(), rel=1e-6)


def test_nt_xent_lower_for_matched_pairs_than_shuffled():
    z = torch.randn(16, 32, generator=_g(0))
    noisy = z + 0.1 * torch.randn(16, 32, generator=_g(1))
    perm = torch.randperm(16, generator=_g(2))
    assert nt_xent(z, noisy) < nt_xent(z, noisy[perm])


def test_nt_xent_flattens_feature_maps_and_has_gradients():
    z1 = torch.randn(4, 2, 3, 3, generator=_g(0)).requires_grad_()
    z2 = torch.randn(4, 2, 3, 3, generator=_g(1))
    loss = nt_xent(z1, z2)
    loss.backward()
    assert torch.isfinite(loss) and z1.grad.abs().sum() > 0


def test_nt_xent_bad_arguments_raise():
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(z, z, temperature=0)
    with pytest.raises(ValueError, match="batch size"):
        nt_xent(z[:1], z[:1])
    with pytest.raises(ValueError, match="shapes"):
        nt_xent(z, z[:, :4])


# ------------------------------------------------------------ adios_sparsity
def _masks_with_coverage(s, n=2, size=100):
    """Masks (1, n, size, size) where every mask covers the fraction s of pixels."""
    m = torch.zeros(1, n, size, size)
    k = round(s * size * size)
    m.view(1, n, -1)[..., :k] = 1.0
    return m


def test_sparsity_minimal_at_half_coverage():
    cov = [0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99]
    vals = [adios_sparsity(_masks_with_coverage(s)).item() for s in cov]
    assert vals[cov.index(0.5)] == pytest.approx(1.0, rel=1e-6)
    assert min(vals) == vals[cov.index(0.5)]
    for s, v in zip(cov, vals):
        assert v == pytest.approx(1 / math.sin(math.pi * s), rel=1e-4)


def test_sparsity_huge_near_empty_and_full():
    assert adios_sparsity(_masks_with_coverage(1e-4)).item() > 1000
    assert adios_sparsity(_masks_with_coverage(1 - 1e-4)).item() > 1000
    assert adios_sparsity(torch.zeros(1, 2, 8, 8)).item() > 1e9  # bounded by eps, still finite
    assert math.isfinite(adios_sparsity(torch.zeros(1, 2, 8, 8)).item())


def test_sparsity_per_image_then_mean_and_alpha():
    m = torch.cat([_masks_with_coverage(0.5, size=60), _masks_with_coverage(1 / 6, size=60)])  # 1/sin(pi/6) = 2
    assert adios_sparsity(m).item() == pytest.approx(1.5, rel=1e-4)
    assert adios_sparsity(m, alpha=2.0).item() == pytest.approx(3.0, rel=1e-4)
    assert adios_sparsity(m[:, 0]).item() == pytest.approx(1.5, rel=1e-4)  # (B, H, W) accepted


def test_sparsity_gradient_pushes_toward_half():
    m = _masks_with_coverage(0.2, n=1, size=10).mul(0.9).add(0.05).requires_grad_()
    adios_sparsity(m).backward()
    assert (m.grad < 0).all()  # increasing coverage lowers the penalty below 0.5


def test_sparsity_bad_arguments_raise():
    with pytest.raises(ValueError, match="alpha"):
        adios_sparsity(torch.rand(1, 2, 4, 4), alpha=-1)
    with pytest.raises(ValueError, match="masks"):
        adios_sparsity(torch.rand(4, 4))
