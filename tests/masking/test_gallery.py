"""Tests for focusmim.masking.gallery: example photos, the masked gallery and render_masked."""
import pytest


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
