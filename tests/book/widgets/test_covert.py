"""Tests for focusmim.book.widgets.covert: the covert-attention explorer's render function, still figure and widgets."""

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pytest
import torch

from focusmim import models
from focusmim.book.widgets import covert


# --------------------------------------------------------------- widget
def test_render_shapes_and_masking():
    torch.manual_seed(0)
    model = models.build("autoencoder", width=0.25).eval()
    img = (torch.rand(3, 32, 32) * 255).to(torch.uint8)
    out = covert.render(model, img, [None, (0.1, 0.1), (0.9, 0.5)])
    assert out["image"].shape == (32, 32, 3)
    assert out["inputs"].shape == (3, 32, 32, 3) and out["recons"].shape == (3, 32, 32, 3)
    assert out["visible"].shape == (3, 32, 32) and out["visible"].dtype == bool
    assert out["inputs"].dtype == np.float32 and 0 <= out["recons"].min() and out["recons"].max() <= 1
    vis = out["visible"]
    assert vis[1].sum() > vis[0].sum() and vis[1][3, 3] and not vis[0][3, 3]
    # visible pixels are the image; hidden ones are the mean colour
    assert np.allclose(out["inputs"][1][vis[1]], out["image"][vis[1]], atol=1e-6)
    assert np.allclose(out["inputs"][0][~vis[0]], out["image"].mean((0, 1)), atol=1e-5)
    # the reconstruction is the model's output for that input
    with torch.no_grad():
        direct = model(torch.from_numpy(out["inputs"][2]).permute(2, 0, 1)[None])[0][0].permute(1, 2, 0).numpy()
    assert np.allclose(direct, out["recons"][2], atol=1e-5)
    single = covert.render(model, img, (0.5, 0.5))
    assert single["inputs"].shape == (1, 32, 32, 3)
    for bad in [dict(positions=(1.5, 0.2)), dict(positions=[]), dict(ratio=1.0)]:
        with pytest.raises(ValueError):
            covert.render(model, img, **bad)
    with pytest.raises(ValueError, match="image has shape"):
        covert.render(model, torch.rand(32, 32), None)
    fig = covert.still(model, img, foreground=torch.ones(1, 32, 32))
    assert len(fig.axes) == 8


def test_explorer_builds_widgets():
    model = models.build("autoencoder", width=0.25).eval()
    box = covert.explorer(model, torch.rand(2, 3, 32, 32))
    sliders = [c for row in box.children[:2] for c in row.children]
    assert {s.description for s in sliders} == {"image", "second disc", "disc y", "disc x"}
