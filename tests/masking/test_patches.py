"""Tests for focusmim.masking.patches: no mask, random and fixed patches, blurry patches."""
import math

import pytest
import torch

from focusmim import masking

from tests.masking.masktools import images, gen, run


def test_none_is_identity():
    x = images()
    out = run("none", x)
    assert torch.equal(out.inputs, x) and bool(out.weight.eq(1).all())


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.6, 0.9])
def test_random_patches_exact_count_and_mean_fill(ratio):
    x = images(8)
    out = run("random_patches", x, ratio=ratio)
    n = int(144 * ratio)
    # every row has exactly n hidden patches (8x8 px each at 96 px)
    assert out.weight.sum(dim=(1, 2, 3)).tolist() == [n * 64.0] * 8
    # weight is constant on each 8x8 patch
    w = out.weight.view(8, 12, 8, 12, 8)
    assert bool((w == w[:, :, :1, :, :1]).all())
    mean = x.mean(dim=(2, 3))
    hid = out.weight[:, 0] > 0
    for b in range(8):
        assert torch.allclose(out.inputs[b][:, hid[b]], mean[b][:, None].expand(3, int(hid[b].sum())))


def test_random_patches_paper_fraction():
    out = run("random_patches", images(2), ratio=0.6)
    assert abs(out.weight.mean().item() - 0.597) < 0.001


def test_random_patches_32px_relative_grid():
    out = run("random_patches", images(4, 32), ratio=0.5)
    # 72 of 144 cells hidden; cells at 32 px are 2 or 3 px wide, so count cells via the grid
    cells = out.weight[:, 0, [math.ceil(i * 32 / 12) for i in range(12)]][:, :, [math.ceil(j * 32 / 12) for j in range(12)]]
    assert cells.sum(dim=(1, 2)).tolist() == [72.0] * 4


def test_random_determinism():
    x = images()
    for name, kw in [("random_patches", {}), ("blurry_patches", {}), ("covert_attention", {"placement": "random"})]:
        a, b, c = run(name, x, 1, **kw), run(name, x, 1, **kw), run(name, x, 2, **kw)
        assert torch.equal(a.weight, b.weight) and torch.equal(a.inputs, b.inputs)
        assert not torch.equal(a.weight, c.weight)


def test_fixed_patches_same_per_index_and_batch_independent():
    x = images(6)
    m = masking.build("random_patches", ratio=0.6, fixed=True, seed=7)
    idx = torch.tensor([3, 10, 11, 500, 3, 123456789])
    whole = m(x, gen(0), index=idx)
    again = m(x, gen(123), index=idx)  # the generator does not matter
    assert torch.equal(whole.weight, again.weight)
    for i in range(6):  # one by one == batched
        one = m(x[i : i + 1], gen(i), index=idx[i : i + 1])
        assert torch.equal(one.weight, whole.weight[i : i + 1])
        assert torch.equal(one.inputs, whole.inputs[i : i + 1])
    assert torch.equal(whole.weight[0], whole.weight[4])  # same index, same mask
    assert not torch.equal(whole.weight[1], whole.weight[2])
    other_seed = masking.build("random_patches", ratio=0.6, fixed=True, seed=8)(x, None, index=idx)
    assert not torch.equal(other_seed.weight, whole.weight)
    assert whole.weight.sum(dim=(1, 2, 3)).tolist() == [86 * 64.0] * 6
    with pytest.raises(ValueError, match="index"):
        m(x, gen(0))
