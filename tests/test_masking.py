"""Tests for focusmim.masking: geometry against the spec, fills, blur, foveation, determinism, errors."""
import math

import pytest
import torch

from focusmim import masking
from focusmim.masking import MaskOutput, apply_foreground
from focusmim.masking.base import gaussian_blur, scaled_sigma

NAMES = [
    "none", "random_patches", "masked_periphery", "blurry_patches",
    "blurry_periphery", "foveal", "central", "covert_attention",
]
# spec: radius / masked fraction at 96 px for ratio 0.1 .. 0.9
PERIPHERY_TABLE = [(51, 0.143), (48, 0.218), (45, 0.310), (41, 0.429), (38, 0.510),
                   (34, 0.607), (29, 0.715), (24, 0.805), (17, 0.902)]


def images(b=4, size=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth-ish structure plus noise, so blur and foveation visibly change it
    base = torch.rand((b, 3, size // 8, size // 8), generator=g)
    x = torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    return (0.7 * x + 0.3 * torch.rand((b, 3, size, size), generator=g)).clamp(0, 1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def run(name, x, seed=0, **kw):
    extra = {}
    if name == "covert_attention" and kw.get("placement") == "object":
        extra["foreground"] = torch.rand((x.shape[0], 1, *x.shape[-2:]), generator=gen(99))
    return masking.build(name, **kw)(x, gen(seed), **extra)


def test_registry_names():
    assert set(NAMES) <= set(masking.available())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [32, 96])
def test_output_contract(name, size):
    x = images(3, size)
    out = run(name, x)
    assert isinstance(out, MaskOutput)
    assert out.inputs.shape == x.shape and out.inputs.dtype == x.dtype
    assert out.weight.shape == (3, 1, size, size) and out.weight.is_floating_point()
    assert out.visible.shape == (3, 1, size, size) and out.visible.dtype == torch.bool
    assert float(out.weight.min()) >= 0 and float(out.weight.max()) <= 1
    assert float(out.weight.sum()) > 0
    # visible pixels are shown unaltered
    vis = out.visible.expand_as(x)
    assert torch.equal(out.inputs[vis], x[vis])
    m = masking.build(name)
    assert m.name == name and type(m).__name__ in repr(m)


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


@pytest.mark.parametrize("i", range(9))
def test_periphery_matches_spec_table(i):
    ratio = round(0.1 * (i + 1), 1)
    radius, fraction = PERIPHERY_TABLE[i]
    m = masking.build("masked_periphery", ratio=ratio)
    assert m.radius(96, 96) == radius
    out = m(images(2), None)
    assert abs(out.weight.mean().item() - fraction) < 0.005
    # blurry periphery uses the same region
    blurry = masking.build("blurry_periphery", ratio=ratio)(images(2), None)
    assert torch.equal(blurry.weight, out.weight)


def test_periphery_mean_fill_and_center():
    x = images(3)
    out = run("masked_periphery", x, ratio=0.8)
    mean = x.mean(dim=(2, 3))
    assert torch.allclose(out.inputs[:, :, 0, 0], mean) and torch.allclose(out.inputs[:, :, 95, 95], mean)
    assert out.weight[0, 0, 48, 48] == 0 and out.weight[0, 0, 48, 48 + 24] == 0 and out.weight[0, 0, 48, 48 + 25] == 1
    moved = masking.build("masked_periphery", ratio=0.8, center=(0.25, 0.75))(x, None)
    assert moved.weight[0, 0, 24, 72] == 0 and moved.weight[0, 0, 48, 48] == 1
    # per-sample centres (B, 2) equal the fixed-centre masks row by row
    centers = torch.tensor([[0.5, 0.5], [0.25, 0.75], [0.5, 0.5]])
    per = masking.build("masked_periphery", ratio=0.8, center=centers)(x, None)
    assert torch.equal(per.weight[0], out.weight[0]) and torch.equal(per.weight[1], moved.weight[1])


def test_deterministic_maskers_batch_equals_one_by_one():
    x = images(4)
    for name in ["masked_periphery", "blurry_periphery", "central", "foveal", "blurry_patches"]:
        m = masking.build(name, fixed=True) if name == "blurry_patches" else masking.build(name)
        kw = {"index": torch.arange(4)} if name == "blurry_patches" else {}
        whole = m(x, gen(0), **kw)
        for i in range(4):
            kwi = {"index": torch.arange(4)[i : i + 1]} if kw else {}
            one = m(x[i : i + 1], gen(0), **kwi)
            assert torch.allclose(one.inputs, whole.inputs[i : i + 1], atol=1e-6), name
            assert torch.equal(one.weight, whole.weight[i : i + 1]), name


@pytest.mark.parametrize("name", ["blurry_periphery", "blurry_patches"])
def test_blur_fill_is_the_blurred_image(name):
    x = images(3)
    out = run(name, x, sigma=4.0)
    region = out.weight.expand_as(x) > 0
    blurred = gaussian_blur(x, scaled_sigma(4.0, 96, 96))
    assert torch.allclose(out.inputs[region], blurred[region], atol=1e-6)
    mean_fill = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    assert (out.inputs[region] - mean_fill[region]).abs().mean() > 0.02
    assert (out.inputs[region] - x[region]).abs().mean() > 0.02
    # a larger sigma blurs more (further from the original)
    more = run(name, x, sigma=8.0)
    assert (more.inputs[region] - x[region]).abs().mean() > (out.inputs[region] - x[region]).abs().mean()


def test_gaussian_blur_properties():
    x = torch.rand(2, 3, 32, 32)
    y = gaussian_blur(x, 2.0)
    assert torch.allclose(y.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=0.02)
    assert y.std() < x.std()
    c = torch.full((1, 3, 20, 20), 0.3)
    assert torch.allclose(gaussian_blur(c, 3.0), c, atol=1e-6)
    gaussian_blur(torch.rand(1, 3, 12, 12), 20.0)  # kernel wider than the image: truncated, no error


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


def test_central_is_inverse_disc():
    x = images(2)
    out = run("central", x, ratio=0.3)
    assert out.weight[0, 0, 48, 48] == 1 and out.weight[0, 0, 0, 0] == 0
    assert abs(out.weight.mean().item() - 0.3) < 0.02  # the radius is truncated to whole pixels
    # exactly the complement of the masked periphery with the complementary ratio (same radius)
    periphery = run("masked_periphery", x, ratio=0.7)
    assert torch.equal(out.weight, 1 - periphery.weight)
    assert torch.allclose(out.inputs[:, :, 48, 48], x.mean(dim=(2, 3)))


def test_covert_attention():
    x = images(16)
    per = run("masked_periphery", x, ratio=0.8)
    out = run("covert_attention", x, ratio=0.8, placement="random")
    r = 24
    assert bool((out.weight <= per.weight).all())  # first disc still visible
    extra = (per.weight - out.weight).sum(dim=(1, 2, 3))
    # the second disc is fully inside the image: its area is that of the first one,
    # minus any overlap with it
    full = per.visible[0].sum().item()
    assert bool((extra <= full).all()) and bool((extra > 0).any())
    # object placement: centred on the most confident pixel
    fg = torch.zeros(16, 1, 96, 96)
    fg[:, :, 10, 80] = 1.0
    obj = masking.build("covert_attention", placement="object")(x, None, foreground=fg)
    assert bool(obj.visible[:, 0, 10, 80].all()) and bool(obj.visible[:, 0, 10 + r, 80].all())
    assert bool((~obj.visible[:, 0, 10 + r + 1, 80]).all())
    with pytest.raises(ValueError, match="foreground"):
        masking.build("covert_attention", placement="object")(x, None)
    with pytest.raises(ValueError, match="generator"):
        masking.build("covert_attention", placement="random")(x, None)


def test_covert_random_disc_inside_image():
    x = images(64)
    m = masking.build("covert_attention", ratio=0.8, placement="random")
    cy, cx = m.second_centers(x, gen(3), None)
    assert bool(((cy >= 24) & (cy <= 95 - 24) & (cx >= 24) & (cx <= 95 - 24)).all())
    assert cy.std() > 5 and cx.std() > 5


def test_apply_foreground():
    w = run("masked_periphery", images(2)).weight
    fg = torch.rand(2, 1, 96, 96)
    assert torch.equal(apply_foreground(w, fg), w * fg)
    assert apply_foreground(w, None) is w
    fg8 = (fg * 255).to(torch.uint8)
    assert torch.allclose(apply_foreground(w, fg8), w * fg8.float() / 255)
    with pytest.raises(ValueError, match="foreground"):
        apply_foreground(w, torch.rand(2, 1, 32, 32))


@pytest.mark.parametrize(
    "name, kw, word",
    [
        ("random_patches", {"ratio": 0}, "ratio"),
        ("random_patches", {"ratio": 1.2}, "ratio"),
        ("random_patches", {"ratio": 0.001}, "ratio"),
        ("masked_periphery", {"ratio": 1.0}, "ratio"),
        ("central", {"ratio": -0.1}, "ratio"),
        ("blurry_periphery", {"sigma": 0}, "sigma"),
        ("blurry_patches", {"sigma": -1.0}, "sigma"),
        ("covert_attention", {"placement": "left"}, "placement"),
        ("masked_periphery", {"center": (1.5, 0.5)}, "center"),
        ("foveal", {"levels": 1}, "levels"),
        ("foveal", {"alpha": 0}, "alpha"),
        ("random_patches", {"fixed": "yes"}, "fixed"),
        ("none", {"ratio": 0.5}, "ratio"),
        ("nonexistent", {}, "allowed"),
    ],
)
def test_bad_params(name, kw, word):
    with pytest.raises(ValueError, match=word):
        masking.build(name, **kw)


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (2, 3, 96, 11), (2, 1, 96, 96), (3, 96, 96)])
def test_bad_sizes(shape):
    with pytest.raises(ValueError, match="allowed"):
        masking.build("masked_periphery")(torch.rand(shape), None)


def test_bad_call_arguments():
    x = images(2)
    m = masking.build("random_patches")
    with pytest.raises(ValueError, match="generator"):
        m(x, None)
    with pytest.raises(ValueError, match="generator"):
        m(x, 42)
    with pytest.raises(ValueError, match="x has"):
        m(x.to(torch.uint8), gen())
    with pytest.raises(ValueError, match="center"):
        masking.build("masked_periphery", center=torch.rand(3, 2))(x, None)


def test_odd_but_valid_sizes():
    for size in [(12, 12), (50, 70)]:
        x = torch.rand(2, 3, *size)
        for name in NAMES:
            out = run(name, x, placement="random") if name == "covert_attention" else run(name, x)
            assert out.inputs.shape == x.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():  # pragma: no cover - only where a GPU exists
    x = images(4)
    for name in ["masked_periphery", "foveal", "blurry_periphery"]:
        cpu = masking.build(name)(x, None)
        gpu = masking.build(name)(x.cuda(), torch.Generator("cuda").manual_seed(0))
        assert torch.allclose(gpu.inputs.cpu(), cpu.inputs, atol=1e-4)
        assert torch.equal(gpu.weight.cpu(), cpu.weight)
    fixed = masking.build("random_patches", fixed=True)
    idx = torch.arange(4)
    assert torch.equal(fixed(x, None, index=idx).weight, fixed(x.cuda(), None, index=idx.cuda()).weight.cpu())


def test_gallery_and_render_masked():
    import matplotlib

    matplotlib.use("Agg")
    from focusmim.masking.gallery import example_images, gallery, render_masked

    x = example_images(32)
    assert x.shape == (4, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1 and x.std() > 0.1
    masked, weight = render_masked(x[0], "masked_periphery", ratio=0.8, center=(0.3, 0.3))
    assert masked.shape == (32, 32, 3) and weight.shape == (32, 32) and weight[9, 9] == 0 and weight[31, 31] == 1
    fig = gallery(x[:2], names=["none", "covert_attention"], seed=1)
    assert len(fig.axes) == 8
    with pytest.raises(ValueError, match="names"):
        gallery(x[:1], names=["nope"])
