"""Tests for focusmim.widgets.masking: the masking explorer's render function and model lookup."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402

from focusmim.widgets import masking as wm  # noqa: E402


def test_widget_render_and_model_lookup(tmp_path):
    fig = wm.render(torch.rand(3, 96, 96), "masked_periphery", ratio=0.8)
    assert len(fig.axes) == 3 and "80.5% of pixels in the loss" in fig._suptitle.get_text()
    img = torch.rand(3, 32, 32)
    fig = wm.render(img, "masked_periphery", ratio=0.8, center=(0.1, 0.9))  # disc cut by the corner
    assert "center=(0.1, 0.9)" in fig._suptitle.get_text() and "80.5%" not in fig._suptitle.get_text()
    # a model (any callable returning (recon, z)) adds the reconstruction panel
    fig = wm.render(img, "random_patches", ratio=0.5, model=lambda x: (x * 0, None))
    assert [a.get_title() for a in fig.axes][-1] == "reconstruction"
    with pytest.raises(ValueError, match="strategy"):
        wm.render(img, "no_such_mask")
    from focusmim.config import make_config
    from focusmim.runs import RunStore

    assert wm.find_model(make_config("smoke"), "foveal", store=RunStore(tmp_path)) is None
    box = wm.explorer(torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8))
    assert type(box).__name__ == "VBox"
