"""Figures of the object-vs-background chapters (04 object loss, 05 covert attention).

Built on :mod:`focusmim.book.plots.common` (lines with error bars, grouped bars, image
grids, provenance captions). Every function returns a matplotlib Figure.

Example:
    >>> rows = [dict(strategy="random patches", loss=l, epoch=e, accuracy_mean=a, accuracy_std=0.01)
    ...         for l, a0 in (("everything", .5), ("object", .55)) for e, a in ((1, a0), (2, a0 + .05))]
    >>> fig = accuracy_vs_epoch(rows)
    >>> len(fig.axes), fig.axes[0].get_xlabel()
    (1, 'pretraining epoch')
"""
from __future__ import annotations

import textwrap
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from focusmim.experiments.captions import weights_note
from focusmim.book.plots.common import grouped_bars, image_grid, line_plot, provenance_caption, table_bars

__all__ = ["accuracy_vs_epoch", "foreground_gallery", "segmentation_gallery", "covert_error_bars",
           "covert_reconstructions", "covert_probe_bars", "LOSS_LABELS"]

LOSS_LABELS = {"everything": "loss on everything", "object": "loss on the object"}


def _rows(table_or_rows) -> tuple[list[dict], Any]:
    """The rows, and what the budget caption is generated from (the Table itself: its rows
    record where the runs were trained; None for bare rows)."""
    if hasattr(table_or_rows, "rows"):
        return list(table_or_rows.rows), table_or_rows
    if isinstance(table_or_rows, Sequence):
        return list(table_or_rows), None
    raise ValueError(f"got {type(table_or_rows).__name__}; allowed: a Table or a list of row dicts")


def accuracy_vs_epoch(curves, *, strategies: Sequence[str] | None = None, caption: bool = True) -> Figure:
    """Fig. 5a/b analogue: probe accuracy against pretraining epoch, one panel per
    masking strategy, one line (mean +- std) per loss ('everything' / 'object').

    ``curves``: chapter 04's ``curves`` Table or its rows (``strategy``, ``loss``,
    ``epoch``, ``accuracy_mean``, ``accuracy_std``).
    """
    rows, meta = _rows(curves)
    if not rows:
        raise ValueError("curves has no rows; allowed: the chapter's accuracy-vs-epoch table")
    have = list(dict.fromkeys(r["strategy"] for r in rows))
    strategies = list(strategies or have)
    missing = [s for s in strategies if s not in have]
    if missing:
        raise ValueError(f"strategies {missing} are not in curves; allowed: {have}")
    fig, axes = plt.subplots(1, len(strategies), figsize=(5.2 * len(strategies), 3.6), squeeze=False,
                             layout="constrained", sharey=True)
    for ax, (panel, strategy) in zip(axes[0], zip("ab", strategies)):
        series = {}
        for loss, label in LOSS_LABELS.items():
            rs = sorted((r for r in rows if r["strategy"] == strategy and r["loss"] == loss), key=lambda r: r["epoch"])
            if rs:
                series[label] = ([r["accuracy_mean"] for r in rs], [r.get("accuracy_std") or 0.0 for r in rs],
                                 [r["epoch"] for r in rs])
        line_plot([], series, xlabel="pretraining epoch", title=f"({panel}) {strategy}", ax=ax)
    if caption and meta:
        provenance_caption(fig, meta)
    return fig


def foreground_gallery(images, maps: Mapping[str, object], *, n: int = 5, title: str = "") -> Figure:
    """Images in the first row, then one row per kind of foreground map
    (``maps``: label -> (N,1,H,W) uint8 or float), optionally each map's overlay.

    Example:
        >>> import numpy as np
        >>> fig = foreground_gallery(np.zeros((2, 3, 8, 8), np.uint8), {"gt": np.ones((2, 1, 8, 8), np.uint8)})
        >>> len(fig.axes)
        4
    """
    imgs = np.asarray(images)
    if imgs.ndim != 4 or imgs.shape[1] != 3:
        raise ValueError(f"images has shape {imgs.shape}; allowed: (N,3,H,W)")
    if not maps:
        raise ValueError("maps is empty; allowed: label -> (N,1,H,W) maps")
    k = min(n, len(imgs))
    rows = [[imgs[i] for i in range(k)]]
    for label, m in maps.items():
        m = np.asarray(m)
        if m.shape[0] < k or m.ndim != 4 or m.shape[1] != 1:
            raise ValueError(f"maps[{label!r}] has shape {m.shape}; allowed: (N,1,H,W) with N >= {k}")
        rows.append([m[i] for i in range(k)])
    return image_grid(rows, row_labels=["image", *maps], title=title)


def segmentation_gallery(seg: dict, *, n: int = 4) -> Figure:
    """Synthetic images, their ground-truth maps and rembg's maps, with each image's IoU."""
    if not seg.get("available", False):
        raise ValueError("seg has no maps (available=False); allowed: the result of segmentation_quality")
    ex = seg["examples"]
    fig = foreground_gallery(np.asarray(ex["images"], np.uint8),
                             {"ground truth": np.asarray(ex["gt"], np.uint8), "rembg u2netp": np.asarray(ex["rembg"], np.uint8)},
                             n=n, title=f"rembg vs ground truth: mean IoU {seg['iou_mean']:.2f} over {seg['n']} images "
                                        f"at {seg['image_size']} px")
    k = min(n, len(ex["images"]))
    axes = fig.axes
    for j in range(k):
        axes[2 * k + j].set_xlabel(f"IoU {seg['iou_per_image'][j]:.2f}", fontsize=7)
    return fig


def covert_error_bars(errors, *, region: str = "foreground", paper: Mapping[str, float] | None = None,
                      paper_model: str = "no second disc", caption: bool = True) -> Figure:
    """Foreground prediction error per pretrained model (groups), with the plain
    periphery input and with the second disc on the object (bars), mean +- std.
    ``paper`` ({'without': ..., 'with': ...}) is drawn on ``paper_model``'s bars."""
    rows, meta = _rows(errors)
    key = f"{region} mean"
    if not rows or key not in rows[0]:
        raise ValueError(f"region={region!r} is not in the table; allowed: 'foreground', 'foreground hidden in both'")
    models = list(dict.fromkeys(r["model"] for r in rows))
    inputs = list(dict.fromkeys(r["input"] for r in rows))
    series = {}
    for inp in inputs:
        got = {r["model"]: r for r in rows if r["input"] == inp}
        series[inp] = ([got[m][key] if m in got else float("nan") for m in models],
                       [got[m].get(f"{region} std", 0.0) if m in got else 0.0 for m in models])
    marks = None
    if paper:
        marks = {(paper_model, inputs[0]): paper["without"], (paper_model, inputs[-1]): paper["with"]}
        marks = {k: v for k, v in marks.items() if k[0] in models}
    title = ("prediction error restricted to the object" if region == "foreground" else
             "prediction error on object pixels hidden in both inputs")
    # some errors were measured with an older placement of the disc (chapter 5's ARGMAX_NOTE)
    title += "".join(f"\n({note})" for note in getattr(meta, "meta", {}).get("older", ()))
    fig = grouped_bars(models, series, paper=marks, ylabel=f"squared error on the {region}", percent=False,
                       title=title, figsize=(7.0, 3.8))
    ax = fig.axes[0]
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
    if caption and meta:
        provenance_caption(fig, meta)
    return fig


def covert_reconstructions(recon: dict, *, n: int = 4) -> Figure:
    """Fig. 6 analogue: per test image, the target, its foreground map, the periphery
    input and its reconstruction, and the input with the second disc and its
    reconstruction."""
    cols = ["target", "foreground", "plain_input", "plain_recon", "covert_input", "covert_recon"]
    missing = [c for c in cols if c not in recon]
    if missing:
        raise ValueError(f"recon lacks {missing}; allowed: the result of ch05 reconstructions()")
    arrs = {c: np.asarray(recon[c], np.uint8) for c in cols}
    k = min(n, len(arrs["target"]))
    rows = [[arrs[c][i] for c in cols] for i in range(k)]
    labels = ["target", "foreground", "periphery input", "reconstruction", "+ disc on object", "reconstruction"]
    title = "reconstructions without and with the covert-attention disc"
    if recon.get("older"):
        title += f"\n(examples: {recon['older']})"
    return image_grid(rows, col_labels=labels, title=title)


def lattice_comparison(recon: dict, longer: tuple, *, n: int = 3) -> Figure:
    """This chapter's reconstructions beside those of a longer-trained run of the same
    masker (``longer``: ``(key, steps, its cached reconstructions)`` from
    :func:`focusmim.chapters.ch05_covert_attention.longer_trained`), each above its targets."""
    key, steps, other = longer
    k = min(n, len(recon["plain_recon"]), len(other["reconstruction"]))
    rows = [[np.asarray(recon["plain_recon"][i], np.uint8) for i in range(k)],
            [np.asarray(recon["target"][i], np.uint8) for i in range(k)],
            [np.asarray(other["reconstruction"][i], np.uint8) for i in range(k)],
            [np.asarray(other["target"][i], np.uint8) for i in range(k)]]
    drawn = weights_note(other.get("weights"))
    title = "reconstructions: this chapter's model vs the same masker trained longer"
    return image_grid(rows, row_labels=["this model", "its targets", f"~{steps} steps", "its targets"],
                      title=textwrap.fill(f"{title}; the longer run's {drawn}" if drawn else title, 80))


def covert_probe_bars(probe, *, caption: bool = True) -> Figure:
    """Linear-probe accuracy of the periphery runs pretrained without / with the second disc."""
    rows, _ = _rows(probe)
    if not rows:
        raise ValueError("probe has no rows; allowed: chapter 05's probe Table")
    return table_bars(probe, caption=caption, title="second disc during pretraining", rotate=15,
                      figsize=(5.5, 3.6))
