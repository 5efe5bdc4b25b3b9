"""Figure helpers shared by every chapter: bars with error bars and the paper's
values as markers, accuracy-versus-x lines, image grids, and a provenance caption.

Every helper returns a :class:`matplotlib.figure.Figure` (it draws into ``ax``
when one is given, else into a new figure), so a notebook cell can show it and
a test can check it without a display.

Example:
    >>> fig = bar_chart(["random patches", "raw pixels"], [0.61, 0.35], [0.01, 0.0],
    ...                 paper={"random patches": 0.702, "raw pixels": 0.359})
    >>> fig.axes[0].get_ylabel()
    'linear-probe accuracy (%)'
    >>> fig = line_plot([0.2, 0.5, 0.8], {"random patches": ([0.5, 0.6, 0.55], [0.01, 0.02, 0.01])},
    ...                 xlabel="masking ratio")
    >>> len(fig.axes[0].lines) >= 1
    True
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from focusmim.experiments.captions import budget_caption

__all__ = [
    "as_jpeg",
    "bar_chart",
    "table_bars",
    "image_panel_problems",
    "line_plot",
    "grouped_bars",
    "image_grid",
    "provenance_caption",
    "to_image",
    "PALETTE",
    "PAPER_MARKER",
]

PALETTE = ["#3b6ea8", "#d9822b", "#4f9a55", "#b8474b", "#7d62a8", "#8c6d5a", "#c76fb0", "#7f7f7f",
           "#a6a53b", "#3aa6b3"]
PAPER_MARKER = dict(marker="D", color="black", markersize=6, linestyle="none", zorder=5)


def _new_ax(ax, figsize) -> tuple[Figure, Any]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


def _check_lengths(**seqs: Sequence | None) -> int:
    lengths = {k: len(v) for k, v in seqs.items() if v is not None}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"lengths differ: {lengths}; allowed: sequences of the same length")
    return next(iter(lengths.values()), 0)


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def bar_chart(labels: Sequence[str], means: Sequence[float], stds: Sequence[float] | None = None, *,
              paper: Mapping[str, float] | None = None, lines: Mapping[str, float] | None = None,
              ylabel: str = "linear-probe accuracy", percent: bool = True, title: str = "",
              colors: Sequence[str] | None = None, ax=None, figsize=(7.5, 3.8), rotate: int = 25) -> Figure:
    """Bars (mean +- std) per label; the paper's value for a label (``paper[label]``)
    drawn as a black diamond on its bar; ``lines`` (name -> value) as dashed
    horizontal reference lines (e.g. other methods' accuracies).

    ``percent=True`` multiplies values in [0, 1] by 100 on the axis.
    """
    n = _check_lengths(labels=labels, means=means, stds=stds)
    if n == 0:
        raise ValueError("labels is empty; allowed: at least one bar")
    k = 100.0 if percent else 1.0
    m = np.array([_num(v) for v in means]) * k
    s = None if stds is None else np.nan_to_num(np.array([_num(v) for v in stds]) * k)
    fig, ax = _new_ax(ax, figsize)
    x = np.arange(n)
    colors = list(colors) if colors is not None else [PALETTE[i % len(PALETTE)] for i in range(n)]
    ax.bar(x, m, yerr=s, capsize=4, color=colors, edgecolor="black", linewidth=0.5,
           error_kw=dict(elinewidth=1, ecolor="black"), label="ours (mean ± std)")
    if paper:
        px = [i for i, lab in enumerate(labels) if lab in paper]
        if px:
            ax.plot(px, [paper[labels[i]] * k for i in px], label="paper (STL-10)", **PAPER_MARKER)
    for j, (name, val) in enumerate((lines or {}).items()):
        ax.axhline(val * k, linestyle="--", linewidth=1, color=PALETTE[(j + 3) % len(PALETTE)], alpha=0.8)
        ax.text(n - 0.5, val * k, f" {name}", va="center", ha="left", fontsize=7,
                color=PALETTE[(j + 3) % len(PALETTE)], clip_on=False)
    ax.set_xticks(x, list(labels), rotation=rotate, ha="right" if rotate else "center")
    ax.set_ylabel(f"{ylabel} (%)" if percent else ylabel)
    finite = m[np.isfinite(m)]
    top = max([*(finite + (0 if s is None else s[np.isfinite(m)])), *(v * k for v in (paper or {}).values()),
               *(v * k for v in (lines or {}).values()), 1e-9])
    ax.set_ylim(0, top * 1.12)
    if title:
        ax.set_title(title)
    if paper or stds is not None:
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def table_bars(table, *, mean: str = "accuracy_mean", std: str = "accuracy_std",
               paper: Mapping[str, float] | None = None, conditions: Sequence[str] | None = None,
               caption: bool = True, **kwargs) -> Figure:
    """:func:`bar_chart` of a :class:`~focusmim.experiments.Table`'s rows (optionally a
    subset ``conditions`` in that order), with the budget as a caption.

    Example:
        >>> from focusmim.experiments import Table
        >>> t = Table("demo", [{"condition": "a", "accuracy_mean": 0.5, "accuracy_std": 0.1}],
        ...           {"dataset": "synthetic", "epochs": 2})
        >>> float(table_bars(t).axes[0].patches[0].get_height())
        50.0
    """
    rows = table.rows
    if conditions is not None:
        have = {r["condition"]: r for r in rows}
        missing = [c for c in conditions if c not in have]
        if missing:
            raise ValueError(f"conditions {missing} are not in the table; allowed: {sorted(have)}")
        rows = [have[c] for c in conditions]
    fig = bar_chart([r["condition"] for r in rows], [r.get(mean) for r in rows], [r.get(std) or 0.0 for r in rows],
                    paper=paper, **kwargs)
    if caption:
        provenance_caption(fig, table)
    return fig


def line_plot(x: Sequence[float], series: Mapping[str, tuple[Sequence[float], Sequence[float] | None]], *,
              xlabel: str, ylabel: str = "linear-probe accuracy", percent: bool = True, title: str = "",
              paper: Mapping[str, Any] | None = None, hlines: Mapping[str, float] | None = None,
              ax=None, figsize=(6.0, 3.8), logx: bool = False) -> Figure:
    """One line with error bars per series (name -> (means, stds)) against ``x``.

    ``x`` is shared, or each series may give its own x as a third element
    ``(means, stds, xs)``. ``paper`` maps a series name to the paper's point
    ``(x, value)`` (drawn as a diamond in the series' colour); ``hlines`` maps a
    name to a horizontal reference value.
    """
    if not series:
        raise ValueError("series is empty; allowed: a mapping name -> (means, stds)")
    k = 100.0 if percent else 1.0
    fig, ax = _new_ax(ax, figsize)
    for i, (name, val) in enumerate(series.items()):
        means, stds = val[0], val[1]
        xs = val[2] if len(val) > 2 else x
        _check_lengths(x=xs, means=means, stds=stds)
        c = PALETTE[i % len(PALETTE)]
        m = np.array([_num(v) for v in means]) * k
        s = None if stds is None else np.nan_to_num(np.array([_num(v) for v in stds]) * k)
        ax.errorbar(np.asarray(xs, dtype=float), m, yerr=s, marker="o", markersize=4, capsize=3, color=c,
                    label=name)
        if paper and name in paper and paper[name] is not None:
            px, pv = paper[name]
            ax.plot([px], [pv * k], **{**PAPER_MARKER, "color": c, "markeredgecolor": "black"},
                    label=f"{name}: paper")
    for j, (name, val) in enumerate((hlines or {}).items()):
        ax.axhline(val * k, linestyle="--", linewidth=1, color="grey")
        ax.text(ax.get_xlim()[1], val * k, f" {name}", va="center", ha="left", fontsize=7, color="grey")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{ylabel} (%)" if percent else ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return fig


def grouped_bars(groups: Sequence[str], series: Mapping[str, tuple[Sequence[float], Sequence[float] | None]], *,
                 paper: Mapping[tuple[str, str], float] | None = None, ylabel: str = "linear-probe accuracy",
                 percent: bool = True, title: str = "", ax=None, figsize=(6.5, 3.8)) -> Figure:
    """Bars grouped by ``groups`` (x positions), one bar per series in each group
    (series name -> (means, stds), one value per group; NaN leaves a gap);
    ``paper[(group, series)]`` is drawn as a black diamond on that bar.

    Example:
        >>> fig = grouped_bars(["patches", "periphery"], {"crop": ([0.7, 0.68], [0.01, 0.01]),
        ...                    "no crop": ([0.7, 0.57], None)}, paper={("periphery", "no crop"): 0.567})
        >>> len(fig.axes[0].patches)
        4
    """
    ng = len(groups)
    if ng == 0 or not series:
        raise ValueError("groups and series must be non-empty; allowed: at least one group and one series")
    for name, val in series.items():
        _check_lengths(groups=groups, means=val[0], stds=val[1])
    k = 100.0 if percent else 1.0
    fig, ax = _new_ax(ax, figsize)
    ns = len(series)
    width = 0.8 / ns
    x = np.arange(ng)
    tops = [1e-9]
    marked = False
    for i, (name, (means, stds)) in enumerate(series.items()):
        m = np.array([_num(v) for v in means]) * k
        s = None if stds is None else np.nan_to_num(np.array([_num(v) for v in stds]) * k)
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, m, width * 0.95, yerr=s, capsize=3, color=PALETTE[i % len(PALETTE)], edgecolor="black",
               linewidth=0.5, label=name, error_kw=dict(elinewidth=1))
        tops += list(m[np.isfinite(m)] + (0 if s is None else s[np.isfinite(m)]))
        for j, g in enumerate(groups):
            if paper and (g, name) in paper:
                ax.plot([pos[j]], [paper[(g, name)] * k], label=None if marked else "paper (STL-10)",
                        **PAPER_MARKER)
                tops.append(paper[(g, name)] * k)
                marked = True
    ax.set_xticks(x, list(groups))
    ax.set_ylabel(f"{ylabel} (%)" if percent else ylabel)
    ax.set_ylim(0, max(tops) * 1.15)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def to_image(x) -> np.ndarray:
    """An image as a float (H, W, 3) array in [0, 1] from a tensor/array that is
    (3,H,W) or (H,W,3), integers (0..255: uint8, or nested lists read back from JSON) or
    float (0..1); (1,H,W) / (H,W) become grey.

    Example:
        >>> float(to_image([[[0, 128, 255]]]).max()), float(to_image(np.full((2, 2), 0.5)).max())
        (1.0, 0.5)
    """
    a = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    if a.dtype == bool:
        a = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):
        # integers are 8-bit pixel values, never a [0, 1] scale (read as floats, most would clip to white)
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"integer image has values {a.min()}..{a.max()}; allowed: 0..255")
        a = a.astype(np.float32) / 255.0
    a = a.astype(np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)  # (C,H,W) -> (H,W,C)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3):
        raise ValueError(f"image has shape {a.shape}; allowed: (3,H,W), (H,W,3), (1,H,W) or (H,W)")
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    return np.clip(a, 0.0, 1.0)


def image_grid(rows: Sequence[Sequence[Any]], *, row_labels: Sequence[str] | None = None,
               col_labels: Sequence[str] | None = None, title: str = "", cell: float = 1.3) -> Figure:
    """A grid of images (``rows[i][j]`` any format :func:`to_image` takes; ``None``
    leaves a cell blank) with optional row and column labels.

    Example:
        >>> import numpy as np
        >>> fig = image_grid([[np.zeros((8, 8, 3)), np.ones((8, 8, 3))]], col_labels=["a", "b"])
        >>> len(fig.axes)
        2
    """
    if not rows or not any(len(r) for r in rows):
        raise ValueError("rows is empty; allowed: a non-empty list of rows of images")
    nr, nc = len(rows), max(len(r) for r in rows)
    if row_labels is not None and len(row_labels) != nr:
        raise ValueError(f"row_labels has {len(row_labels)} entries; allowed: one per row ({nr})")
    if col_labels is not None and len(col_labels) != nc:
        raise ValueError(f"col_labels has {len(col_labels)} entries; allowed: one per column ({nc})")
    fig, axes = plt.subplots(nr, nc, figsize=(cell * nc + (1.2 if row_labels else 0), cell * nr + 0.4),
                             squeeze=False, layout="constrained")
    for i in range(nr):
        for j in range(nc):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(False)
            img = rows[i][j] if j < len(rows[i]) else None
            if img is not None:
                ax.imshow(to_image(img), interpolation="nearest")
            if i == 0 and col_labels is not None:
                ax.set_title(col_labels[j], fontsize=8)
            if j == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[i], fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def image_panel_problems(fig: Figure, *, white: float = 0.9, flat: float = 0.01) -> list[str]:
    """What is wrong with the image panels of ``fig``: one line per panel whose image is
    washed out (more than ``white`` of its pixels pure white) or blank (pixel standard
    deviation under ``flat`` on the [0, 1] scale). Empty when every panel is fine.

    Example:
        >>> import numpy as np
        >>> fig = image_grid([[np.full((8, 8, 3), 255, np.uint8), np.random.default_rng(0).random((8, 8, 3))]])
        >>> image_panel_problems(fig)
        ['panel 0 (row 0, col 0): washed out (100 % of pixels white)']
    """
    out = []
    for k, ax in enumerate(fig.axes):
        for im in ax.get_images():
            a = np.asarray(im.get_array(), dtype=np.float32)
            if a.size == 0:
                continue
            spec = ax.get_subplotspec()
            where = f"row {spec.rowspan.start}, col {spec.colspan.start}" if spec is not None else "?"
            white_frac = float((a.reshape(a.shape[0], a.shape[1], -1) >= 0.999).all(-1).mean())
            if white_frac > white:
                out.append(f"panel {k} ({where}): washed out ({100 * white_frac:.0f} % of pixels white)")
            elif float(a.std()) < flat:
                out.append(f"panel {k} ({where}): blank (pixel std {float(a.std()):.4f})")
    return out


def provenance_caption(fig: Figure, meta: Any, prefix: str = "Budget: ") -> str:
    """Write :func:`focusmim.experiments.captions.budget_caption` of ``meta`` (a Table, whose rows' runs say where and how
    long they were trained, or a Table's meta) under the figure; returns the text."""
    if not isinstance(fig, Figure):
        raise ValueError(f"fig={type(fig).__name__} is not allowed; allowed: a matplotlib Figure")
    text = prefix + budget_caption(meta)
    fig.text(0.01, -0.01, text, fontsize=7, color="dimgray", ha="left", va="top")
    return text


def as_jpeg(fig: Figure, quality: int = 88, dpi: int = 100):
    """``fig`` as a JPEG for a notebook's output (an ``IPython.display.Image``), closed afterwards: a grid of
    photographs is several times smaller as JPEG than as the inline backend's PNG, which keeps the committed
    notebooks small. End a cell with it to show the figure.

        >>> import matplotlib.pyplot as plt
        >>> img = as_jpeg(plt.figure(figsize=(1, 1)))
        >>> img.format, img.data[:2] == b"\\xff\\xd8"
        ('jpeg', True)
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image

    if not isinstance(fig, Figure):
        raise ValueError(f"fig={type(fig).__name__} is not allowed; allowed: a matplotlib Figure")
    if not (isinstance(quality, int) and 1 <= quality <= 95):
        raise ValueError(f"quality={quality!r} is not allowed; allowed: a whole number from 1 to 95")
    buf = io.BytesIO()
    fig.savefig(buf, format="jpeg", dpi=dpi, bbox_inches="tight", pil_kwargs={"quality": quality})
    plt.close(fig)
    return Image(data=buf.getvalue(), format="jpeg")
