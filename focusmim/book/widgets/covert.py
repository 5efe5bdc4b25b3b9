"""Covert-attention explorer: move a second visible disc over an image and watch a
trained model's reconstruction change.

:func:`render` does the work (one batched forward pass for any number of disc
positions) and returns arrays; :func:`still` draws a static figure from it for
the book; :func:`explorer` wraps it in ipywidgets sliders for a live notebook.

Example:
    >>> import torch
    >>> from focusmim import models
    >>> model = models.build("autoencoder", width=0.25).eval()
    >>> out = render(model, torch.rand(3, 32, 32), [(0.2, 0.3), None])
    >>> out["inputs"].shape, out["recons"].shape, out["visible"].shape
    ((2, 32, 32, 3), (2, 32, 32, 3), (2, 32, 32))
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from focusmim.masking.base import disc_radius, mean_fill, pixel_distance
from focusmim.book.plots.common import image_grid

__all__ = ["render", "still", "explorer"]


def _image(image) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"image has shape {tuple(t.shape)}; allowed: (3,H,W), uint8 or float in [0,1]")
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()


def _positions(positions) -> list:
    if positions is None or (isinstance(positions, tuple) and len(positions) == 2
                             and all(isinstance(v, (int, float)) for v in positions)):
        positions = [positions]
    out = []
    for p in positions:
        if p is not None:
            if len(p) != 2 or not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in p):
                raise ValueError(f"position {p!r} is not allowed; allowed: None or (cy, cx) with both in [0, 1]")
            p = (float(p[0]), float(p[1]))
        out.append(p)
    if not out:
        raise ValueError("positions is empty; allowed: a (cy, cx) pair, None, or a list of them")
    return out


@torch.no_grad()
def render(model, image, positions=None, *, ratio: float = 0.8, center: tuple = (0.5, 0.5)) -> dict:
    """Masked inputs and reconstructions of one image for each second-disc position.

    Args:
        model: an autoencoder (``recon, z = model(x)``), in eval mode.
        image: (3,H,W) uint8 or float in [0,1].
        positions: ``(cy, cx)`` in relative [0,1] coordinates, ``None`` (periphery
            only, no second disc), or a list of these.
        ratio: masked fraction of the periphery mask (the disc radius follows it).
        center: the fixation (first disc) in relative coordinates.

    Returns:
        dict of float32 numpy arrays: ``image`` (H,W,3), ``inputs`` and ``recons``
        (P,H,W,3), ``visible`` (P,H,W) bool, plus ``radius`` and ``positions``.
    """
    if not (isinstance(ratio, (int, float)) and 0 < ratio < 1):
        raise ValueError(f"ratio={ratio!r} is not allowed; allowed: a number strictly between 0 and 1")
    if len(center) != 2 or not all(0 <= c <= 1 for c in center):
        raise ValueError(f"center={center!r} is not allowed; allowed: (cy, cx) with both in [0, 1]")
    x = _image(image)
    pos = _positions(positions)
    _, H, W = x.shape
    r = disc_radius(H, W, 1.0 - ratio)
    P = len(pos)
    fix = torch.tensor([[center[0] * H, center[1] * W]] * P)
    # a disc at an absent position is placed far outside the image (adds nothing)
    sec = torch.tensor([[p[0] * H, p[1] * W] if p is not None else [-10.0 * (H + W)] * 2 for p in pos])
    visible = (pixel_distance(H, W, fix[:, 0], fix[:, 1]) <= r) | (pixel_distance(H, W, sec[:, 0], sec[:, 1]) <= r)
    xb = x.unsqueeze(0).expand(P, -1, -1, -1)
    inputs = torch.where(visible, xb, mean_fill(xb))  # hidden pixels get the image's mean colour
    device = next(iter(model.parameters())).device
    recons = model(inputs.to(device))[0].float().cpu().clamp(0, 1)
    hwc = lambda t: t.permute(0, 2, 3, 1).numpy().astype(np.float32)  # noqa: E731
    return {"image": x.permute(1, 2, 0).numpy().astype(np.float32), "inputs": hwc(inputs), "recons": hwc(recons),
            "visible": visible[:, 0].numpy(), "radius": r, "positions": pos}


def still(model, image, positions: Sequence = (None, (0.25, 0.25), (0.75, 0.7)), *, ratio: float = 0.8,
          foreground=None, title: str = ""):
    """A static figure from :func:`render`: one column per disc position (input above,
    reconstruction below), the image (and its foreground map) on the left.

    Example:
        >>> import torch
        >>> from focusmim import models
        >>> fig = still(models.build("autoencoder", width=0.25).eval(), torch.rand(3, 32, 32))
        >>> len(fig.axes)
        8
    """
    out = render(model, image, list(positions), ratio=ratio)
    fg = None if foreground is None else np.asarray(foreground, dtype=np.float32).reshape(out["image"].shape[:2])
    if fg is not None and fg.max() > 1:
        fg = fg / 255.0
    label = lambda p: "periphery only" if p is None else f"disc at ({p[0]:.2f}, {p[1]:.2f})"  # noqa: E731
    rows = [[out["image"], *out["inputs"]], [fg, *out["recons"]]]
    return image_grid(rows, row_labels=["input", "reconstruction"],
                      col_labels=["image / foreground", *[label(p) for p in out["positions"]]],
                      title=title or "moving the covert-attention disc", cell=1.6)


def explorer(model, images, *, ratio: float = 0.8):
    """An ipywidgets panel: choose an image and move the second disc with two sliders
    (``cy``, ``cx``); shows the image, the masked input and the reconstruction.

    ``images``: (N,3,H,W) uint8 or float. Returns the widget (display it, or let the
    notebook show it as a cell's value).
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt

    imgs = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if imgs.dim() != 4 or imgs.shape[1] != 3 or len(imgs) == 0:
        raise ValueError(f"images has shape {tuple(imgs.shape)}; allowed: (N,3,H,W) with N >= 1")
    idx = w.IntSlider(0, 0, len(imgs) - 1, description="image")
    cy = w.FloatSlider(0.25, min=0.0, max=1.0, step=0.01, description="disc y")
    cx = w.FloatSlider(0.25, min=0.0, max=1.0, step=0.01, description="disc x")
    on = w.Checkbox(True, description="second disc")
    out = w.Output()

    def draw(*_):
        res = render(model, imgs[idx.value], (cy.value, cx.value) if on.value else None, ratio=ratio)
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.6), layout="constrained")
            for ax, im, t in zip(axes, (res["image"], res["inputs"][0], res["recons"][0]),
                                 ("image", "masked input", "reconstruction")):
                ax.imshow(np.clip(im, 0, 1), interpolation="nearest")
                ax.set_title(t, fontsize=9)
                ax.axis("off")
            plt.show()

    for s in (idx, cy, cx, on):
        s.observe(draw, names="value")
    draw()
    return w.VBox([w.HBox([idx, on]), w.HBox([cy, cx]), out])
