"""Tests for focusmim.masking.foveal: the foveation filter."""
import torch

from focusmim import masking

from tests.masking.masktools import images, run


def test_foveal_properties():
    x = images(3)
    m = masking.build("foveal")
    out = m(x, None)
    assert torch.equal(out.inputs[:, :, 48, 48], x[:, :, 48, 48])  # unchanged at the fixation
    assert abs(out.weight.mean().item() - 0.974) < 0.002  # loss outside the ~8.7 px fovea
    assert abs(m.fovea_radius(96, 96) - 8.75) < 1e-9
    # error grows with eccentricity (mean over rings of width 8 px)
    ii, jj = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    dist = ((ii - 48) ** 2 + (jj - 48) ** 2).sqrt()
    err = (out.inputs - x).abs().mean(dim=(0, 1))
    rings = [err[(dist >= r) & (dist < r + 8)].mean().item() for r in range(8, 48, 8)]
    assert all(b > a for a, b in zip(rings, rings[1:])), rings
    assert err[dist <= 8.75].max() == 0
    # blend weights are a partition of unity in [0, 1]
    w, fovea, used = m.blend(x)
    assert torch.allclose(w.sum(dim=1), torch.ones(1, 96, 96)) and float(w.min()) >= 0
    assert used == [0, 1, 2, 3]
    # a moved fixation moves the fovea
    moved = masking.build("foveal", center=(0.2, 0.3))(x, None)
    assert torch.equal(moved.inputs[:, :, 19, 29], x[:, :, 19, 29]) and moved.weight[0, 0, 48, 48] == 1


def test_foveal_32px():
    x = images(2, 32)
    out = run("foveal", x)
    assert torch.equal(out.inputs[:, :, 16, 16], x[:, :, 16, 16])
    assert 0.9 < out.weight.mean().item() < 1
