"""Tests for focusmim.masking.foveal: the foveation filter.

The default filter is compared, on photographs, with an independent port of the paper's
public foveation code (``data/preprocess.py`` of github.com/RobinWeiler/FocusMIM, which ran
under torchvision 0.14). The port below follows that code step by step for one (3, H, W)
image; it shares nothing with focusmim's batched implementation.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from focusmim import masking
from tests.conftest import need_external
from tests.masking.masktools import images, run

IMAGENETTE_TEST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "imagenette96" / "test"
RINGS = [(8, 16), (16, 24), (24, 32), (32, 48), (48, 70)]  # px from the fixation


# ------------------------------------------------------------------ the reference, one image at a time
def _tv014_gaussian_blur(img, kernel_size, sigma):
    """torchvision 0.14 ``gaussian_blur`` of a float (C, H, W) tensor: separable kernel, reflect padding."""
    half = (kernel_size - 1) * 0.5
    pdf = torch.exp(-0.5 * (torch.linspace(-half, half, steps=kernel_size) / sigma).pow(2))
    k1 = pdf / pdf.sum()
    k2 = torch.mm(k1[:, None], k1[None, :]).expand(img.shape[0], 1, kernel_size, kernel_size)
    padded = F.pad(img[None], [kernel_size // 2] * 4, mode="reflect")
    return F.conv2d(padded, k2, groups=img.shape[0])[0]


def _tv014_resize(img, size):
    """torchvision 0.14 ``Resize(size)`` of a float (C, H, W) tensor: antialias=None means False there."""
    return F.interpolate(img[None], size=list(size), mode="bilinear", align_corners=False, antialias=False)[0]


def _reference_pyramid(im, kernel_size=5, sigmas=(), num_levels=6):
    A = im.clone()
    pyramids = [A]
    _, height_original, width_original = im.shape
    for i in range(1, num_levels):  # blur, then halve (floor)
        A = _tv014_gaussian_blur(A, kernel_size, float(sigmas[i]))
        _, height, width = A.shape
        A = _tv014_resize(A, (int(height / 2), int(width / 2)))
        pyramids.append(A)
    for i in range(1, num_levels):  # back up: doublings, the last step straight to the original size
        A = pyramids[i]
        for j in range(i):
            new_size = (A.shape[1] * 2, A.shape[2] * 2) if j < i - 1 else (height_original, width_original)
            A = _tv014_resize(A, new_size)
        pyramids[i] = A
    return pyramids


def reference_foveate(im, fovea_pos):
    """(foveated (3, H, W), loss mask (H, W): 1 outside the fovea) as the reference computes them."""
    num_levels = 6
    sigmas = np.repeat(0.248, num_levels)
    p, alpha = 3.5, 2.5
    x_focus, y_focus = fovea_pos
    GP = _reference_pyramid(im, num_levels=num_levels, sigmas=sigmas)

    x = torch.arange(0, im.shape[2], 1, dtype=torch.float32)
    y = torch.arange(0, im.shape[1], 1, dtype=torch.float32)
    x_2d, y_2d = torch.meshgrid(x, y, indexing="ij")  # (W, H): transposed back at the end
    theta = torch.sqrt((x_2d - x_focus) ** 2 + (y_2d - y_focus) ** 2) / p
    R = alpha / (theta + alpha)

    Ts = [torch.exp(-(((2 ** (i - 3)) * R / sigmas[i - 1]) ** 2) * 0.5) for i in range(1, num_levels)]
    Ts.append(torch.zeros_like(R))
    omegas = torch.zeros(num_levels)
    for i in range(1, num_levels):
        omegas[i - 1] = (sigmas[i - 1] * torch.sqrt(torch.log(torch.tensor(2)))) / (
            2 ** (i - 3) * torch.sqrt(torch.tensor(0.5)))
    omegas[-1] = 0
    omegas_norm = [(o - omegas.min()) / (omegas.max() - omegas.min()) for o in omegas]
    layer_numbers = torch.zeros_like(R)
    for i in range(1, num_levels):
        layer_numbers[(R >= omegas_norm[i]) & (R <= omegas_norm[i - 1])] = i
    layer_numbers = layer_numbers.int()
    Bs = [(0.5 - Ts[i]) / (Ts[i - 1] - Ts[i] + 1e-5) for i in range(1, num_levels)]
    Ms = torch.zeros((num_levels, R.shape[0], R.shape[1]))
    for i in range(1, num_levels + 1):
        index = layer_numbers == i
        if index.sum() > 0:
            Ms[i - 1][index] = 1 if i == 1 else 1 - Bs[i - 1][index]
        index = layer_numbers - 1 == i
        if index.sum() > 0:
            Ms[i - 1][index] = Bs[i][index]
    im_fov = torch.zeros_like(GP[0], dtype=torch.float32)
    for M, A in zip(Ms, GP):
        for color in range(im.shape[0]):
            im_fov[color] += M.T * A[color]
    return im_fov.clamp(0, 1), torch.where(Ms[0] == 1, 0, 1).T


# ------------------------------------------------------------------ photos
def _imagenette_photos(per_class=2):
    root = need_external(IMAGENETTE_TEST, "imagenette96 test photos (96 px JPEGs, <class>/*.jpg)",
                         "put the shared data folder beside the repository (../shared/data/imagenette96)")
    from PIL import Image

    files = [f for d in sorted(p for p in root.iterdir() if p.is_dir()) for f in sorted(d.glob("*.jpg"))[:per_class]]
    arrays = [np.array(Image.open(f).convert("RGB").resize((96, 96))) for f in files]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def _skimage_photos():
    """scikit-image's bundled photographs (astronaut, coffee, cat), centre-cropped square and resized to 96 px."""
    data = pytest.importorskip("skimage.data", reason="scikit-image ships the photographs this test uses")
    out = []
    for name in ("astronaut", "coffee", "chelsea"):
        a = torch.from_numpy(np.ascontiguousarray(getattr(data, name)()[..., :3])).permute(2, 0, 1).float() / 255
        s = min(a.shape[1:])
        top, left = (a.shape[1] - s) // 2, (a.shape[2] - s) // 2
        a = a[:, top : top + s, left : left + s]
        out.append(F.interpolate(a[None], size=(96, 96), mode="bilinear", align_corners=False, antialias=True)[0])
    return torch.stack(out).clamp(0, 1)


def ring_changes(out, x):
    """Mean |out - x| over images and channels, per ring around the centre pixel (48, 48)."""
    ii, jj = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    dist = ((ii - 48) ** 2 + (jj - 48) ** 2).sqrt()
    err = (out - x).abs().mean(dim=(0, 1))
    return torch.tensor([err[(dist >= a) & (dist < b)].mean().item() for a, b in RINGS])


def _check_against_reference(x):
    ref = [reference_foveate(im, (im.shape[2] // 2, im.shape[1] // 2)) for im in x]
    ref_img = torch.stack([r[0] for r in ref])
    ref_mask = torch.stack([r[1] for r in ref]).unsqueeze(1).float()
    out = masking.build("foveal")(x, None)
    ratios = ring_changes(out.inputs, x) / ring_changes(ref_img, x)
    assert ((ratios > 0.85) & (ratios < 1.15)).all(), f"per-ring change vs the reference: {ratios.tolist()}"
    change = (ref_img - x).abs().mean()
    gap = (out.inputs - ref_img).abs()
    assert gap.mean() < 0.01 * change and gap.max() < 1e-3, (gap.mean() / change, gap.max())
    assert torch.equal(out.weight, ref_mask)  # the loss counts exactly outside the reference's fovea
    return ratios


def test_default_filter_follows_the_reference_on_imagenette_photos():
    _check_against_reference(_imagenette_photos())


def test_default_filter_follows_the_reference_on_skimage_photos():
    _check_against_reference(_skimage_photos())


def test_consistent_blend_degrades_the_near_periphery_less():
    x = _skimage_photos()
    ref = torch.stack([reference_foveate(im, (48, 48))[0] for im in x])
    ratios = ring_changes(masking.build("foveal", blend="consistent")(x, None).inputs, x) / ring_changes(ref, x)
    assert ratios[0] < 0.85 and ratios[1] < 0.9, ratios.tolist()  # 8-16 px, 16-24 px


# ------------------------------------------------------------------ properties
def test_foveal_properties():
    x = images(3)
    m = masking.build("foveal")
    out = m(x, None)
    assert torch.equal(out.inputs[:, :, 48, 48], x[:, :, 48, 48])  # unchanged at the fixation
    assert abs(out.weight.mean().item() - 0.974) < 0.002  # loss outside the ~8.7 px fovea
    assert abs(m.fovea_radius(96, 96) - 8.75) < 1e-9
    ii, jj = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    dist = ((ii - 48) ** 2 + (jj - 48) ** 2).sqrt()
    err = (out.inputs - x).abs().mean(dim=(0, 1))
    assert err[dist <= 8.75].max() == 0
    # the reference's weights sum to 1 but leave [0, 1] (its quirk); the consistent ones do not
    w, fovea, used = m.blend(x)
    assert torch.allclose(w.sum(dim=1), torch.ones(1, 96, 96)) and float(w.min()) < -0.3 and float(w.max()) > 1.3
    assert used == [0, 1, 2, 3] and torch.equal(fovea, dist.view(1, 1, 96, 96) < 8.75)
    wc, fovea_c, used_c = masking.build("foveal", blend="consistent").blend(x)
    assert torch.allclose(wc.sum(dim=1), torch.ones(1, 96, 96)) and float(wc.min()) >= 0 and float(wc.max()) <= 1
    assert used_c == [0, 1, 2, 3] and torch.equal(fovea_c, fovea)
    # a moved fixation moves the fovea
    moved = masking.build("foveal", center=(0.2, 0.3))(x, None)
    assert torch.equal(moved.inputs[:, :, 19, 29], x[:, :, 19, 29]) and moved.weight[0, 0, 48, 48] == 1


@pytest.mark.parametrize("blend", ["reference", "consistent"])
def test_error_grows_with_eccentricity(blend):
    x = images(3)
    out = masking.build("foveal", blend=blend)(x, None)
    ii, jj = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    dist = ((ii - 48) ** 2 + (jj - 48) ** 2).sqrt()
    err = (out.inputs - x).abs().mean(dim=(0, 1))
    rings = [err[(dist >= r) & (dist < r + 8)].mean().item() for r in range(8, 48, 8)]
    if blend == "consistent":
        assert all(b > a for a, b in zip(rings, rings[1:])), rings
    else:  # the reference's negative weights just inside 26 px remove more there than a little farther out
        assert rings[0] < 0.5 * min(rings[1:]) and rings[1] < min(rings[2:]), rings


def test_per_sample_fixations_match_fixed_ones():
    x = images(2)
    centers = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    both = masking.build("foveal", center=centers)(x, None)
    for k, c in enumerate(centers.tolist()):
        one = masking.build("foveal", center=tuple(c))(x[k : k + 1], None)
        assert torch.allclose(both.inputs[k : k + 1], one.inputs, atol=1e-6)
        assert torch.equal(both.weight[k : k + 1], one.weight)


def test_bad_blend_is_rejected():
    with pytest.raises(ValueError, match="blend='smooth' is not allowed; allowed: 'reference', 'consistent'"):
        masking.build("foveal", blend="smooth")


@pytest.mark.parametrize("blend", ["reference", "consistent"])
def test_foveal_32px_and_odd_sizes(blend):
    x = images(2, 32)
    out = run("foveal", x, blend=blend)
    assert torch.equal(out.inputs[:, :, 16, 16], x[:, :, 16, 16])
    assert 0.9 < out.weight.mean().item() < 1
    y = torch.rand(2, 3, 45, 70, generator=torch.Generator().manual_seed(1))
    out = run("foveal", y, blend=blend)
    assert out.inputs.shape == y.shape and bool(out.inputs.isfinite().all())
