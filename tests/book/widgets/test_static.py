"""focusmim.book.widgets.static: kernel-free explorers (plotly sliders over precomputed frames)."""
import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from focusmim import models
from focusmim.book.widgets import static


def _decode(uri: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def _visible_sources(ex, step: int) -> list[str]:
    visible = ex.figure.layout.sliders[0].steps[step].args[0]["visible"]
    return [t.source for t, v in zip(ex.figure.data, visible) if v]


def test_png_uri_keeps_values_and_size():
    img = np.zeros((4, 4, 3), np.float32)
    img[0, 0] = 1.0
    back = _decode(static.png_uri(img, size=8))
    assert back.shape == (8, 8, 3) and back.dtype == np.uint8
    assert back[:2, :2].min() == 255 and back[2:, 2:].max() == 0  # nearest: sharp pixels, full range
    with pytest.raises(ValueError, match="image has shape"):
        static.png_uri(np.zeros((4, 4, 2)))


def test_masking_explorer_slider_changes_the_masked_input():
    ex = static.masking_explorer(size=32, ratios=(0.2, 0.8))
    steps = ex.figure.layout.sliders[0].steps
    assert [s.label for s in steps] == ["0.2", "0.8"] and ex.n_frames == 2
    low, high = _visible_sources(ex, 0), _visible_sources(ex, 1)
    assert len(low) == len(high) == 6 and low != high
    # the loss region (the image, dark outside it) of the random patches grows with the ratio
    assert _decode(high[1]).mean() > _decode(low[1]).mean() + 20
    # frame 0 is what the page shows before the slider moves
    assert [t.visible for t in ex.figure.data] == steps[0].args[0]["visible"]
    with pytest.raises(ValueError, match="ratios="):
        static.masking_explorer(size=32, ratios=(1.5,))


def test_blur_explorer_blurs_more_with_sigma():
    ex = static.blur_explorer(size=32, sigmas=(1.0, 16.0))
    sharp, blurred = (_decode(_visible_sources(ex, k)[0]).astype(float) for k in (0, 1))
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(sharp, axis=1)).mean()
    with pytest.raises(ValueError, match="sigmas="):
        static.blur_explorer(sigmas=())


def test_covert_explorer_one_frame_per_position_and_html():
    model = models.build("autoencoder", width=0.25).eval()
    ex = static.covert_explorer(model, torch.rand(3, 32, 32), grid=(0.25, 0.75))
    assert ex.n_frames == 5 and [s.label for s in ex.figure.layout.sliders[0].steps][:2] == ["none", "(0.25, 0.25)"]
    assert _visible_sources(ex, 0)[1] != _visible_sources(ex, 1)[1]  # the masked input moves with the disc
    bundle = ex._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"} and "5 frames" in bundle["text/plain"]
    assert "Plotly.newPlot" in bundle["text/html"] and "https://" not in bundle["text/html"]  # nothing from a CDN


def test_slider_figure_checks_its_frames():
    with pytest.raises(ValueError, match="labels"):
        static.slider_figure([[np.zeros((2, 2))]], ["a", "b"])
    with pytest.raises(ValueError, match="panels"):
        static.slider_figure([[np.zeros((2, 2))]], ["a"], col_titles=["x", "y"])
