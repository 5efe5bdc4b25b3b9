"""Tests for focusmim.masking.base: input checks, the foreground weighting and the Gaussian blur."""
import pytest
import torch

from focusmim import masking
from focusmim.masking import apply_foreground
from focusmim.masking.base import gaussian_blur, scaled_sigma

from tests.masking.masktools import images, gen, run


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


def test_apply_foreground():
    w = run("masked_periphery", images(2)).weight
    fg = torch.rand(2, 1, 96, 96)
    assert torch.equal(apply_foreground(w, fg), w * fg)
    assert apply_foreground(w, None) is w
    fg8 = (fg * 255).to(torch.uint8)
    assert torch.allclose(apply_foreground(w, fg8), w * fg8.float() / 255)
    with pytest.raises(ValueError, match="foreground"):
        apply_foreground(w, torch.rand(2, 1, 32, 32))


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
