"""Kernel-free explorers: plotly figures whose slider steps through precomputed frames, so a
reader of the static (offline) book can move the control and see the picture change.

The ipywidgets explorers (:mod:`focusmim.book.widgets.masking`, :mod:`focusmim.book.widgets.covert`)
need a running kernel; these need nothing but plotly.js, which the book ships from the
plotly wheel (``book/_ext/focusmim_book.py``). One function per explorer:

- :func:`masking_explorer`: the masking ratio (and with it the fovea's radius) of several
  strategies on one photo;
- :func:`blur_explorer`: the blur width of the blurred strategies;
- :func:`covert_explorer`: the second (covert-attention) disc's position, with a trained
  model's reconstruction of each masked input.

Each returns an :class:`Explorer`: shown as a cell's value it writes the figure as HTML
without plotly.js (the book's page loads it once; book.css draws the pixels sharp). Frames
are small PNGs (uint8, ``size`` px, default 64), so a notebook stays small (about 100 kB
an explorer; the notebook holds them once, as HTML only).

Example:
    >>> ex = masking_explorer(size=32, ratios=(0.2, 0.8))
    >>> ex.n_frames, len(ex.figure.data)      # 2 ratios x 3 strategies x (input, loss region)
    (2, 12)
    >>> [s["label"] for s in ex.figure.layout.sliders[0].steps]
    ['0.2', '0.8']
    >>> "plotly-graph-div" in ex.to_html() and "plotly.min.js" not in ex.to_html()
    True
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from focusmim.masking.gallery import example_images
from focusmim.book.widgets.covert import render
from focusmim.book.widgets.masking import masker_for

__all__ = ["Explorer", "slider_figure", "masking_explorer", "blur_explorer", "covert_explorer", "png_uri"]


def png_uri(image: Any, size: int | None = None) -> str:
    """A (H,W,3) or (H,W) image (float in [0,1] or uint8) as a PNG data URI, resized to
    ``size`` px with nearest-neighbour (pixels stay sharp).

    Example:
        >>> png_uri(np.zeros((4, 4, 3)), size=8).startswith("data:image/png;base64,")
        True
    """
    from PIL import Image

    a = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image)
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise ValueError(f"image has shape {a.shape}; allowed: (H,W) or (H,W,3)")
    im = Image.fromarray(a)
    if size is not None and im.size != (size, size):
        im = im.resize((size, size), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@dataclass
class Explorer:
    """A plotly figure with a slider over precomputed frames (see :func:`slider_figure`)."""

    figure: Any
    n_frames: int

    def to_html(self) -> str:
        """The figure as an HTML fragment that draws itself with the page's ``window.Plotly``
        (the book loads plotly.js); where there is none (Jupyter) it says so in one line."""
        div = self.figure.to_html(full_html=False, include_plotlyjs=False,
                                  config={"displaylogo": False, "responsive": True})
        return (div + "<script>if (!window.Plotly) { document.currentScript.insertAdjacentHTML('beforebegin', "
                "'<p><em>This figure is drawn in the built book (it needs plotly.js); with a kernel, "
                "use the ipywidgets explorer.</em></p>'); }</script>")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/html": self.to_html(),
                "text/plain": f"<explorer: {self.figure.layout.title.text}, {self.n_frames} frames>"}


def slider_figure(frames: Sequence[Sequence[Any]], labels: Sequence[str], *, col_titles: Sequence[str] = (),
                  row_titles: Sequence[str] = (), slider: str = "", title: str = "", size: int | None = 64,
                  panel_px: int = 150) -> Explorer:
    """A grid of images per frame and a slider that shows one frame at a time.

    ``frames[k]`` is frame k's panels in row-major order (images as accepted by
    :func:`png_uri`, ``None`` for an empty cell); every frame has ``len(row_titles) *
    len(col_titles)`` panels (one row when ``row_titles`` is empty). The slider's steps
    restyle the traces' visibility (each image is stored once).
    """
    from plotly import graph_objects as go
    from plotly.subplots import make_subplots

    if not frames or len(frames) != len(labels):
        raise ValueError(f"frames has {len(frames)} entries and labels {len(labels)}; allowed: the same number, >= 1")
    rows, cols = max(1, len(row_titles)), max(1, len(col_titles))
    if any(len(f) != rows * cols for f in frames):
        raise ValueError(f"every frame must have rows x cols = {rows * cols} panels; "
                         f"got {sorted({len(f) for f in frames})}")
    fig = make_subplots(rows=rows, cols=cols, column_titles=list(col_titles) or None,
                        row_titles=list(row_titles) or None, horizontal_spacing=0.02, vertical_spacing=0.04)
    owner = []  # frame index of each trace
    for k, panels in enumerate(frames):
        for i, img in enumerate(panels):
            if img is None:
                continue
            fig.add_trace(go.Image(source=png_uri(img, size), hoverinfo="skip", visible=k == 0),
                          row=i // cols + 1, col=i % cols + 1)
            owner.append(k)
    steps = [dict(method="restyle", label=str(lab), args=[{"visible": [o == k for o in owner]}])
             for k, lab in enumerate(labels)]
    fig.update_xaxes(visible=False, constrain="domain")
    for i in range(rows * cols):  # square pixels: each panel's y axis scales with its own x axis
        suffix = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{suffix}"].update(visible=False, scaleanchor=f"x{suffix}", autorange="reversed",
                                            constrain="domain")
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)), width=min(680, 110 + panel_px * cols),
        height=130 + panel_px * rows + 60, margin=dict(l=10, r=30 if row_titles else 10, t=70, b=10),
        sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix=f"{slider}: " if slider else ""),
                      pad=dict(t=10, b=0), len=1.0)],
        plot_bgcolor="white", paper_bgcolor="white")
    return Explorer(fig, len(frames))


def _strategy_panels(x: torch.Tensor, strategy: str, seed: int, **settings) -> list[np.ndarray]:
    out = masker_for(strategy, **settings)(x[None], torch.Generator().manual_seed(seed),
                                           index=torch.zeros(1, dtype=torch.int64))
    # the loss region as in the gallery (focusmim.masking.gallery): the image bright where the loss counts
    weight = out.weight[0].permute(1, 2, 0).numpy()
    return [out.inputs[0].permute(1, 2, 0).numpy(), x.permute(1, 2, 0).numpy() * (0.2 + 0.8 * weight)]


def _photo(image, size: int) -> torch.Tensor:
    if image is None:
        return example_images(size)[1]
    x = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image)
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"image has shape {tuple(x.shape)}; allowed: (3,H,W), uint8 or float in [0,1]")
    return x


LABELS = {"random_patches": "random patches", "masked_periphery": "masked periphery", "foveal": "foveal filter",
          "blurry_patches": "blurry patches", "blurry_periphery": "blurry periphery", "central": "central mask"}


@torch.no_grad()
def masking_explorer(image=None, *, strategies: Sequence[str] = ("random_patches", "masked_periphery", "foveal"),
                     ratios: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9), size: int = 64, seed: int = 0) -> Explorer:
    """Slide the masking ratio: for each strategy (a row) the encoder's input and the loss
    region (the image drawn bright where the loss counts, dark elsewhere). The fovea's and the periphery's disc radius follow
    the ratio. ``image``: (3,H,W); default a photo from scikit-image at ``size`` px."""
    x = _photo(image, size)
    if not ratios or not all(isinstance(r, (int, float)) and 0 < r < 1 for r in ratios):
        raise ValueError(f"ratios={list(ratios)!r} is not allowed; allowed: numbers strictly between 0 and 1")
    frames = [[p for s in strategies for p in _strategy_panels(x, s, seed, ratio=float(r))] for r in ratios]
    return slider_figure(frames, [f"{r:g}" for r in ratios], col_titles=["encoder input", "loss region (bright)"],
                         row_titles=[LABELS.get(s, s) for s in strategies], slider="masking ratio",
                         title="masking ratio (move the slider)", size=size, panel_px=120)


@torch.no_grad()
def blur_explorer(image=None, *, strategies: Sequence[str] = ("blurry_patches", "blurry_periphery"),
                  sigmas: Sequence[float] = (1.0, 2.0, 4.0, 8.0, 16.0), size: int = 64, seed: int = 0) -> Explorer:
    """Slide the blur width (sigma in pixels at 96 px, scaled to the image size) of the
    blurred strategies: the encoder's input of each (a column)."""
    x = _photo(image, size)
    if not sigmas or not all(isinstance(s, (int, float)) and s > 0 for s in sigmas):
        raise ValueError(f"sigmas={list(sigmas)!r} is not allowed; allowed: positive numbers")
    # the loss region does not depend on the blur: one panel (the encoder's input) per strategy
    frames = [[_strategy_panels(x, s, seed, sigma=float(sg))[0] for s in strategies] for sg in sigmas]
    return slider_figure(frames, [f"{s:g}" for s in sigmas], col_titles=[LABELS.get(s, s) for s in strategies],
                         slider="blur sigma (px at 96 px)", title="blur width: the encoder's input (move the slider)",
                         size=size, panel_px=160)


@torch.no_grad()
def covert_explorer(model, image, *, grid: Sequence[float] = (0.2, 0.5, 0.8), ratio: float = 0.8,
                    size: int | None = None) -> Explorer:
    """Slide the covert-attention disc over a grid of positions (plus "none"): the masked
    input and ``model``'s reconstruction of it, all computed in one batched forward pass
    (:func:`focusmim.book.widgets.covert.render`). ``size``: frame pixels (None: the image's own)."""
    if not grid or not all(isinstance(g, (int, float)) and 0 <= g <= 1 for g in grid):
        raise ValueError(f"grid={list(grid)!r} is not allowed; allowed: numbers in [0, 1]")
    positions = [None] + [(float(cy), float(cx)) for cy in grid for cx in grid]
    out = render(model, image, positions, ratio=ratio)
    frames = [[out["image"], inp, rec] for inp, rec in zip(out["inputs"], out["recons"])]
    labels = ["none"] + [f"({cy:g}, {cx:g})" for _, (cy, cx) in zip(range(len(positions) - 1), positions[1:])]
    return slider_figure(frames, labels, col_titles=["image", "masked input", "reconstruction"],
                         slider="second disc at (y, x)", title="covert attention: move the second disc",
                         size=size, panel_px=170)
