"""Interactive explorers for the notebooks (ipywidgets). Every widget draws its
view with a plain function that returns a Figure, so the static book shows the
same picture as a still.

Example:
    >>> from focusmim.widgets import masking
    >>> callable(masking.render) and callable(masking.explorer)
    True
"""
from focusmim.widgets import masking  # noqa: F401

__all__ = ["masking"]
