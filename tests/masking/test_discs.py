"""Tests for focusmim.masking.discs: masked and blurry periphery, central disc, covert attention."""
import pytest
import torch

from focusmim import masking

from tests.masking.masktools import images, gen, run


# spec: radius / masked fraction at 96 px for ratio 0.1 .. 0.9
PERIPHERY_TABLE = [(51, 0.143), (48, 0.218), (45, 0.310), (41, 0.429), (38, 0.510),
                   (34, 0.607), (29, 0.715), (24, 0.805), (17, 0.902)]


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
    # object placement: one confident pixel is its own centroid
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


def test_covert_object_disc_sits_at_the_centre_of_a_saturated_blob():
    # Issue 30: rembg maps saturate at 1.0 over the whole object; argmax took the first saturated
    # pixel in raster order, so the disc sat on the object's top-left edge instead of its centre.
    x = images(3)
    fg = torch.full((3, 1, 96, 96), 0.3)  # faint background everywhere
    fg[0, :, 40:60, 20:50] = 1.0  # saturated blob: centre (49.5, 34.5)
    fg[1, :, 10:31, 60:91] = 0.999  # within 1 % of its maximum 1.0 ...
    fg[1, :, 20, 75] = 1.0  # ... so one brighter pixel does not pull the disc away: centre (20, 75)
    fg[1, :, 70:80, 10:20] = 0.95  # more than 1 % below the maximum: ignored
    fg[2] = 0.0  # no object: the image centre
    m = masking.build("covert_attention", ratio=0.8, placement="object")
    cy, cx = m.second_centers(x, None, fg)
    assert torch.allclose(cy, torch.tensor([49.5, 20.0, 47.5]), atol=1e-3)
    assert torch.allclose(cx, torch.tensor([34.5, 75.0, 47.5]), atol=1e-3)
    # the visible disc (radius 24) is symmetric about the blob's centre: rows 26..73 of column 34
    out = m(x, None, foreground=fg)
    assert out.visible[0, 0, 26:74, 34].all() and not out.visible[0, 0, 25, 34] and not out.visible[0, 0, 74, 34]
    # the centroid is weighted by confidence among the selected pixels
    soft = torch.zeros(1, 1, 96, 96)
    soft[0, 0, 10, 10], soft[0, 0, 10, 30] = 1.0, 0.995
    cy, cx = m.second_centers(x[:1], None, soft)
    assert cy.item() == pytest.approx(10.0) and cx.item() == pytest.approx(10 + 20 * 0.995 / 1.995, abs=1e-4)
