"""Tests for focusmim.masking.gallery: example photos, the masked gallery and render_masked."""
import numpy as np
import pytest
import torch


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


def test_example_images_check_size_and_names():
    from focusmim.masking.gallery import example_images

    one = example_images(16, names=("coffee",))
    assert one.shape == (1, 3, 16, 16) and one.dtype == torch.float32
    assert torch.equal(example_images(16, names=("rocket", "coffee"))[1], one[0])  # each photo on its own
    for bad in (11, 12.0, True):
        with pytest.raises(ValueError, match="size="):
            example_images(bad)
    with pytest.raises(ValueError, match="names contains 'moon'"):
        example_images(16, names=("moon",))


def test_render_masked_takes_tensors_uint8_and_arrays_alike():
    from focusmim.masking.gallery import render_masked

    x = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(0))
    a, wa = render_masked(x, "random_patches", ratio=0.5, generator_seed=3)
    b, wb = render_masked(x.permute(1, 2, 0).numpy(), "random_patches", ratio=0.5, generator_seed=3)
    assert np.allclose(a, b) and np.array_equal(wa, wb)
    c, wc = render_masked(x, "random_patches", ratio=0.5, generator_seed=4)
    assert not np.array_equal(wa, wc)  # the seed draws the patches
    u, _ = render_masked((x * 255).round().to(torch.uint8), "none")
    assert np.allclose(u, x.permute(1, 2, 0).numpy(), atol=1 / 255)
    # the visible pixels are the image, the hidden ones its mean colour
    assert np.allclose(a[wa == 0], x.permute(1, 2, 0).numpy()[wa == 0])
    assert np.allclose(a[wa == 1], x.mean((1, 2)).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="image has shape"):
        render_masked(torch.rand(2, 3, 8, 8), "none")
    with pytest.raises(ValueError, match="image is a list"):
        render_masked([[0.0]], "none")
