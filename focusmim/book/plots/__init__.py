"""Figures for the book: one module per chapter family, shared helpers in :mod:`.common`.

``focusmim.book.plots.common``: bar charts with error bars and the paper's values as
markers, accuracy-versus-x lines, grouped bars, image grids, provenance captions.
``focusmim.book.plots.masking``: chapters 1-3 (strategies, ratio sweep, reconstructions,
decorrelation, sparsity, augmentation).

Example:
    >>> from focusmim.book import plots
    >>> fig = plots.common.bar_chart(["a"], [0.5])
    >>> type(fig).__name__
    'Figure'
"""
from focusmim.book.plots import common, masking  # noqa: F401

__all__ = ["common", "masking"]
