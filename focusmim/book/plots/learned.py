"""Figures for chapters 6 and 7: architectures side by side, learned-mask galleries, object affinity.

Example:
    >>> import numpy as np
    >>> g = {"epochs": [1, 2], "images": np.zeros((2, 3, 8, 8), np.uint8).tolist(),
    ...      "masks": {"1": np.zeros((2, 3, 8, 8), np.uint8).tolist(), "2": np.zeros((2, 3, 8, 8), np.uint8).tolist()}}
    >>> fig = mask_gallery_figure(g)
    >>> len(fig.axes)
    6
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from focusmim.book.plots.common import PALETTE, bar_chart, grouped_bars, image_grid, provenance_caption

__all__ = ["mask_gallery_figure", "affinity_figure", "architecture_figure", "colour_masks"]


def colour_masks(masks: np.ndarray) -> np.ndarray:
    """Soft masks (N,H,W) in [0,1] (or uint8) -> an RGB image (H,W,3): each mask in its own colour."""
    m = np.asarray(masks, dtype=np.float32)
    if m.ndim != 3:
        raise ValueError(f"masks has shape {m.shape}; allowed: (N, H, W)")
    if m.max() > 1.0:
        m = m / 255.0
    cols = np.array([[int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)] for c in PALETTE], dtype=np.float32)
    cols = cols[np.arange(len(m)) % len(cols)]
    return np.clip(np.einsum("nhw,nc->hwc", m, cols), 0, 1)


def mask_gallery_figure(gallery: Mapping, title: str = "") -> Figure:
    """One row per test image: the image, then its N masks in colour at every snapshot epoch."""
    if not isinstance(gallery, Mapping) or not {"epochs", "images", "masks"} <= set(gallery):
        raise ValueError("gallery must be a dict with epochs, images, masks; allowed: ch07.mask_gallery(run)")
    images = np.asarray(gallery["images"], dtype=np.uint8)
    epochs = list(gallery["epochs"])
    rows = []
    for i in range(len(images)):
        row = [images[i]]
        for e in epochs:
            row.append(colour_masks(np.asarray(gallery["masks"][str(e)], dtype=np.uint8)[i]))
        rows.append(row)
    if gallery.get("older"):
        title = f"{title}\n(examples: {gallery['older']})" if title else f"examples: {gallery['older']}"
    return image_grid(rows, col_labels=["image"] + [f"epoch {e}" for e in epochs], title=title)


def affinity_figure(table) -> Figure:
    """Bars of the most object-seeking mask's affinity per mask source (1 = indifferent)."""
    rows = [r for r in table.rows if r.get("max_affinity") is not None]
    if not rows:
        raise ValueError("table has no max_affinity rows; allowed: ch07's affinity table (synthetic data)")
    fig = bar_chart([r["condition"] for r in rows], [r["max_affinity"] for r in rows], None, percent=False,
                    ylabel="object affinity (coverage / area)", lines={"no preference": 1.0})
    provenance_caption(fig, table)
    return fig


def architecture_figure(best: Mapping[str, Mapping], autoencoder_rows: Sequence[Mapping] = (),
                        meta: Mapping | None = None) -> Figure:
    """Grouped bars: per strategy, ConvNeXt linear probe, ConvNeXt fine-tuning and the
    autoencoder's linear probe (chapter 1) when available."""
    strategies = list(best)
    ae = {("periphery (central 3x3 of 7x7)" if r["condition"] == "masked periphery" else r["condition"]): r
          for r in autoencoder_rows}
    series = {
        "ConvNeXt, linear probe": ([best[s]["accuracy_mean"] for s in strategies],
                                   [best[s].get("accuracy_std") or 0.0 for s in strategies]),
        "ConvNeXt, fine-tuned": ([best[s].get("finetune", float("nan")) for s in strategies], None),
    }
    if ae:
        series["autoencoder, linear probe (ch. 1)"] = (
            [ae[s]["accuracy_mean"] if s in ae else float("nan") for s in strategies],
            [ae[s].get("accuracy_std") or 0.0 if s in ae else 0.0 for s in strategies])
    fig = grouped_bars(strategies, series, ylabel="test accuracy")
    if meta:
        provenance_caption(fig, meta)
    return fig
