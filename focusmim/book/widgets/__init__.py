"""Interactive explorers for the notebooks: ipywidgets (live, with a kernel; every widget
draws its view with a plain function that returns a Figure, so the book can show the same
picture as a still) and :mod:`~focusmim.book.widgets.static`, plotly sliders over precomputed
frames that move in the static, offline book.

Example:
    >>> from focusmim.book.widgets import masking
    >>> callable(masking.render) and callable(masking.explorer)
    True
"""
from focusmim.book.widgets import masking, static  # noqa: F401

__all__ = ["masking", "static"]
