"""Helpers every model module shares (imported by the package and by each model; imports no model).

    >>> from focusmim.models.common import size_pair
    >>> size_pair(32)
    (32, 32)
"""
from __future__ import annotations

__all__ = ["size_pair"]


def size_pair(image_size, multiple: int = 1) -> tuple[int, int]:
    """``(H, W)`` from a square side or an ``(H, W)`` pair, each side a positive multiple of ``multiple``.

    Example:
        >>> size_pair(96), size_pair((32, 64), 8)
        ((96, 96), (32, 64))
    """
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        h = w = image_size
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        h, w = image_size
    else:
        raise ValueError(f"image_size={image_size!r} is not allowed; allowed: an int or an (H, W) pair")
    for v in (h, w):
        if isinstance(v, bool) or not isinstance(v, int) or v < multiple or v % multiple:
            raise ValueError(f"image_size={image_size!r} is not allowed; allowed: sides that are multiples of "
                             f"{multiple}, at least {multiple}")
    return int(h), int(w)
