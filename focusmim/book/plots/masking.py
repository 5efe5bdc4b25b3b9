"""Figures of chapters 1-3: masking strategies, ratio sweep, reconstructions,
decorrelation and sparsity, augmentation.

Each function takes what the chapter's ``compute`` returned (a Table or a small
dict) and returns a Figure.

Example:
    >>> from focusmim.experiments import Table
    >>> t = Table("demo", [{"condition": "random patches", "accuracy_mean": 0.6, "accuracy_std": 0.02},
    ...                    {"condition": "raw pixels", "accuracy_mean": 0.3, "accuracy_std": 0.0}])
    >>> fig = strategy_bars(t)
    >>> len(fig.axes[0].patches)
    2
"""
from __future__ import annotations

import textwrap
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from focusmim.experiments.captions import weights_note
from focusmim.masking.gallery import PHOTOS, example_images, gallery
from focusmim.evaluation.paper import PAPER_ACCURACY
from focusmim.book.plots.common import (
    bar_chart,
    grouped_bars,
    image_grid,
    line_plot,
    provenance_caption,
    table_bars,
)

__all__ = [
    "strategy_bars",
    "ratio_sweep",
    "budget_curve",
    "reconstruction_grid",
    "decorrelation_bars",
    "sparsity_bars",
    "decorrelation_curves",
    "crop_bars",
    "fixed_mask_bars",
    "mask_gallery",
    "PAPER_RATIO",
]

# the paper's operating points in the ratio sweep: strategy -> (ratio, accuracy)
PAPER_RATIO = {"random patches": (0.6, PAPER_ACCURACY["random patches"]),
               "masked periphery": (0.8, PAPER_ACCURACY["masked periphery"])}


def _need_table(table) -> None:
    if not hasattr(table, "rows") or not hasattr(table, "meta"):
        raise ValueError(f"table={type(table).__name__} is not allowed; allowed: a focusmim.experiments.Table")


def strategy_bars(table, *, lines: Mapping[str, float] | None = None, title: str | None = None) -> Figure:
    """Linear-probe accuracy per strategy (mean +- std) with the paper's values as
    diamonds (Fig. 4a/4c analogue); ``lines``: other methods as dashed lines."""
    _need_table(table)
    return table_bars(table, paper=PAPER_ACCURACY, lines=lines,
                      title=table.title if title is None else title)


def ratio_sweep(sweep, *, title: str = "Accuracy against masking ratio") -> Figure:
    """Accuracy against masking ratio, one line per strategy (rows need ``strategy``
    and ``ratio``), with the paper's operating point as a diamond."""
    _need_table(sweep)
    series: dict[str, Any] = {}
    for strategy in dict.fromkeys(r["strategy"] for r in sweep.rows):
        rows = sorted((r for r in sweep.rows if r["strategy"] == strategy), key=lambda r: r["ratio"])
        series[strategy] = ([r["accuracy_mean"] for r in rows], [r["accuracy_std"] for r in rows],
                            [r["ratio"] for r in rows])
    if not series:
        raise ValueError("sweep has no rows; allowed: a Table from chapter 1's compute()['sweep']")
    fig = line_plot(None, series, xlabel="masking ratio", paper=PAPER_RATIO, title=title)
    provenance_caption(fig, sweep)
    return fig


def budget_curve(curves, *, title: str = "Probe accuracy against pretraining epochs") -> Figure:
    """Linear-probe accuracy (mean +- std over pretraining seeds) of every strategy after each budget of the
    same runs (chapter 1's ``curves``), raw pixels as a dotted line."""
    _need_table(curves)
    series: dict[str, Any] = {}
    raw = None
    for name in dict.fromkeys(r["condition"] for r in curves.rows):
        rows = sorted((r for r in curves.rows if r["condition"] == name), key=lambda r: r["epoch"])
        if name == "raw pixels":
            raw = rows[-1]["accuracy_mean"]
            continue
        series[name] = ([r["accuracy_mean"] for r in rows], [r["accuracy_std"] for r in rows],
                        [r["epoch"] for r in rows])
    if not series:
        raise ValueError("curves has no rows; allowed: a Table from chapter 1's compute()['curves']")
    fig = line_plot(None, series, xlabel="pretraining epochs", title=title,
                    hlines=None if raw is None else {"raw pixels": raw})
    provenance_caption(fig, curves)
    return fig


def reconstruction_grid(recons: Mapping[str, Mapping[str, Any]], *, images: int | None = None) -> Figure:
    """One row per strategy: for each test image, masked input | reconstruction | target.
    The title says when the examples are older ones and whose weights drew them when not the run's own
    (the zoo's model, or a retrain: :func:`focusmim.experiments.captions.weights_note`)."""
    if not recons:
        raise ValueError("recons is empty; allowed: chapter 1's compute()['reconstructions']")
    first = next(iter(recons.values()))
    n = len(first["target"]) if images is None else min(images, len(first["target"]))
    rows, cols = [], []
    for i in range(n):
        cols += [f"masked {i + 1}", f"reconstruction {i + 1}", f"target {i + 1}"]
    for name, d in recons.items():
        row = []
        for i in range(n):
            row += [np.asarray(d["masked"][i], dtype=np.uint8), np.asarray(d["reconstruction"][i], dtype=np.uint8),
                    np.asarray(d["target"][i], dtype=np.uint8)]
        rows.append(row)
    older = [name for name, d in recons.items() if d.get("older")]
    drawn = [name for name, d in recons.items() if name not in older and weights_note(d.get("weights"))]
    parts = []  # (what to say, the rows it holds for)
    if older:
        parts.append((f"examples are {recons[older[0]]['older']}", older))
    if drawn:
        parts.append((f"reconstructions {weights_note([recons[k]['weights'] for k in drawn])}", drawn))
    title = "; ".join(f"{note[0].upper()}{note[1:]}" if len(names) == len(recons) else f"{', '.join(names)}: {note}"
                      for note, names in parts)
    return image_grid(rows, row_labels=list(recons), col_labels=cols, cell=1.05, title=textwrap.fill(title, 130))


def decorrelation_bars(table, *, title: str | None = None) -> Figure:
    """The covariance term per strategy (mean +- std over seeds), N and d stated (Fig. 4d analogue)."""
    _need_table(table)
    rows = table.rows
    n, d = rows[0].get("n"), rows[0].get("d")
    fig = bar_chart([r["condition"] for r in rows], [r["decorrelation_mean"] for r in rows],
                    [r["decorrelation_std"] for r in rows], percent=False,
                    ylabel=f"covariance term (N={n}, d={d})",
                    title=title or "Correlation between latent units (lower = more decorrelated)")
    provenance_caption(fig, table)
    return fig


def sparsity_bars(table) -> Figure:
    """Lifetime and population sparsity per strategy, side by side."""
    _need_table(table)
    rows = table.rows
    labels = [r["condition"] for r in rows]
    fig = grouped_bars(labels, {
        "lifetime sparsity": ([r["lifetime_sparsity_mean"] for r in rows], [r["lifetime_sparsity_std"] for r in rows]),
        "population sparsity": ([r["population_sparsity_mean"] for r in rows],
                                [r["population_sparsity_std"] for r in rows]),
    }, percent=False, ylabel="Treves-Rolls sparseness (0..1)", title="Sparsity of the latent units",
        figsize=(7.5, 3.8))
    ax = fig.axes[0]
    ax.set_ylim(0, 1.15)
    for lab in ax.get_xticklabels():
        lab.set_rotation(25)
        lab.set_ha("right")
    provenance_caption(fig, table)
    return fig


def decorrelation_curves(curves: Mapping[str, Sequence[Sequence[float]]], n: int | None = None,
                         meta: Any = None) -> Figure:
    """Per-epoch covariance term (mean +- std over seeds) per strategy; ``meta``: the Table
    of the same runs (or its meta) for the budget caption."""
    if not curves:
        raise ValueError("curves is empty; allowed: chapter 2's compute()['curves']")
    series = {}
    for name, per_seed in curves.items():
        length = min(len(c) for c in per_seed)
        if length == 0:
            continue
        a = np.array([c[:length] for c in per_seed], dtype=float)
        series[name] = (a.mean(0), a.std(0, ddof=1) if len(a) > 1 else None, np.arange(1, length + 1))
    if not series:
        raise ValueError("every curve is empty; allowed: runs whose metrics hold 'decorrelation'")
    fig = line_plot(None, series, xlabel="epoch", percent=False,
                    ylabel="covariance term" + (f" (N={n})" if n else ""),
                    title="Decorrelation during training (held-out images)")
    if meta:
        provenance_caption(fig, meta)
    return fig


def crop_bars(res: Mapping[str, Any], meta: Any = None) -> Figure:
    """With vs without random-resized-crop per strategy (Fig. 4b analogue); ``meta``: the
    Table shown (or its meta) for the budget caption."""
    g = res["groups"]
    paper = {(name, "crop" if suffix == "" else "no crop"): PAPER_ACCURACY[f"{name}{suffix}"]
             for name in g for suffix in ("", ", no crop") if f"{name}{suffix}" in PAPER_ACCURACY}
    fig = grouped_bars(g, res["series"], paper=paper, title="Random-resized-crop on and off")
    if meta:
        provenance_caption(fig, meta)
    return fig


def fixed_mask_bars(res: Mapping[str, Any], meta: Any = None) -> Figure:
    """Patch masks drawn afresh vs fixed per image, with and without crop (section 4.3);
    ``meta``: the Table shown (or its meta) for the budget caption."""
    labels = {"random patches": "moving masks", "fixed random patches": "fixed masks"}
    fig = grouped_bars([labels.get(x, x) for x in res["groups"]], res["series"],
                       title="Masks that move vs masks fixed per image")
    if meta:
        provenance_caption(fig, meta)
    return fig


def mask_gallery(image_size: int = 96, n_images: int = 2, dpi: int = 72, **kwargs) -> Figure:
    """Every masking strategy on ``n_images`` real photographs (the paper's Fig. 2
    analogue), drawn by :func:`focusmim.masking.gallery.gallery` at ``dpi`` (keeps
    the stored notebook small)."""
    if isinstance(n_images, bool) or not isinstance(n_images, int) or not 1 <= n_images <= len(PHOTOS):
        raise ValueError(f"n_images={n_images!r} is not allowed; allowed: a whole number from 1 to {len(PHOTOS)}")
    fig = gallery(example_images(image_size)[:n_images], **kwargs)
    fig.set_dpi(dpi)
    return fig
