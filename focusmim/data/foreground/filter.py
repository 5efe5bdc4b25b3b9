"""The paper's image filter: drop an image whose foreground map has (almost) no confident pixel.

The paper drops an image with at most 100 pixels at confidence >= 0.8, stated for
96x96 STL-10 images; here the floor scales with the image area.

Example:
    >>> import torch
    >>> from focusmim.data.foreground.filter import keep_mask, filter_report
    >>> fg = torch.zeros(3, 1, 96, 96, dtype=torch.uint8)
    >>> fg[0, :, 40:60, 40:60] = 255               # 400 confident pixels > 100
    >>> keep_mask(fg).tolist(), filter_report(fg)["dropped"]
    ([True, False, False], 2)
"""
from __future__ import annotations

import math
from typing import Any

import torch

from focusmim.config.registry import Param

__all__ = ["PAPER_MIN_PIXELS", "PAPER_SIZE", "min_pixels_for", "keep_mask", "filter_report", "binarize", "check_maps"]

PAPER_MIN_PIXELS = 100
PAPER_SIZE = 96
THRESHOLD = Param("float", 0.8, low=0, high=1, low_open=True)
MIN_PIXELS = Param("float", None, low=0, none=True, doc="None: 100 scaled to the image area")
SIDE = Param("int", low=1)


def check_maps(fg: Any, name: str) -> None:
    """Raise ValueError naming ``name`` unless ``fg`` is a map tensor ``(N,1,H,W)``, uint8 or float."""
    if not isinstance(fg, torch.Tensor) or fg.ndim != 4 or fg.shape[1] != 1:
        desc = f"shape {tuple(fg.shape)}" if isinstance(fg, torch.Tensor) else type(fg).__name__
        raise ValueError(f"{name} has {desc}; allowed: a tensor of shape (N,1,H,W), uint8 0..255 or float 0..1")
    if fg.dtype != torch.uint8 and not fg.is_floating_point():
        raise ValueError(f"{name} has dtype {fg.dtype}; allowed: uint8 (0..255) or a float dtype (0..1)")


def min_pixels_for(height: int, width: int) -> float:
    """The paper's 100-pixel floor (for 96x96) scaled by area: ``100 * H * W / 96**2``.

    Example:
        >>> from focusmim.data.foreground import min_pixels_for
        >>> min_pixels_for(96, 96), round(min_pixels_for(32, 32), 2)
        (100.0, 11.11)
    """
    SIDE.check("height", height)
    SIDE.check("width", width)
    return PAPER_MIN_PIXELS * height * width / PAPER_SIZE**2


def uint8_level(threshold: float) -> int:
    """The smallest uint8 value ``v`` with ``v / 255 >= threshold``.

    Rounding first keeps 0.8 * 255 = 204.00000000000003 from becoming 205.

    Example:
        >>> from focusmim.data.foreground.filter import uint8_level
        >>> uint8_level(0.8), uint8_level(0.5)
        (204, 128)
    """
    return int(math.ceil(round(255 * threshold, 6)))


def binarize(fg: torch.Tensor, threshold: float) -> torch.Tensor:
    """bool maps: confidence >= ``threshold`` (0..1 scale; uint8 maps compare against :func:`uint8_level`)."""
    if fg.dtype == torch.uint8:
        return fg >= uint8_level(threshold)
    return fg >= threshold


def _resolve_min_pixels(min_pixels: Any, h: int, w: int) -> float:
    MIN_PIXELS.check("min_pixels", min_pixels)
    return min_pixels_for(h, w) if min_pixels is None else float(min_pixels)


def keep_mask(fg: torch.Tensor, min_pixels: float | None = None, threshold: float = 0.8) -> torch.Tensor:
    """bool ``(N,)``: True for images with MORE than ``min_pixels`` pixels at confidence >= ``threshold``.

    The paper drops images with at most 100 such pixels at 96x96. ``min_pixels=None``
    uses that floor scaled by area (:func:`min_pixels_for`: 11.1 at 32x32, so 12
    pixels are needed there); pass a number to fix it. ``threshold`` is on the 0..1
    scale; a uint8 value ``v`` counts when ``v / 255 >= threshold`` exactly, i.e.
    ``v >= ceil(255 * threshold)`` (204 for 0.8). Float maps are compared directly.

    Example:
        >>> import torch
        >>> from focusmim.data.foreground import keep_mask
        >>> fg = torch.zeros(2, 1, 96, 96, dtype=torch.uint8)
        >>> fg[0].view(-1)[:100] = 204     # exactly 100 confident pixels: dropped
        >>> fg[1].view(-1)[:101] = 204     # 101: kept
        >>> keep_mask(fg).tolist()
        [False, True]
    """
    check_maps(fg, "fg")
    THRESHOLD.check("threshold", threshold)
    limit = _resolve_min_pixels(min_pixels, fg.shape[-2], fg.shape[-1])
    return binarize(fg, float(threshold)).flatten(1).sum(1) > limit


def filter_report(fg: torch.Tensor, min_pixels: float | None = None, threshold: float = 0.8) -> dict:
    """Counts for the paper's filter: ``n``, ``kept``, ``dropped``, ``fraction_dropped``,
    the effective ``min_pixels`` and ``threshold``, and ``uint8_level`` (for uint8 maps).

    Example:
        >>> import torch
        >>> from focusmim.data.foreground import filter_report
        >>> r = filter_report(torch.full((4, 1, 96, 96), 255, dtype=torch.uint8))
        >>> r["kept"], r["dropped"], r["uint8_level"]
        (4, 0, 204)
    """
    keep = keep_mask(fg, min_pixels, threshold)
    n = int(keep.numel())
    kept = int(keep.sum())
    return {
        "n": n,
        "kept": kept,
        "dropped": n - kept,
        "fraction_dropped": (n - kept) / n if n else 0.0,
        "min_pixels": _resolve_min_pixels(min_pixels, fg.shape[-2], fg.shape[-1]),
        "threshold": float(threshold),
        "uint8_level": uint8_level(threshold) if fg.dtype == torch.uint8 else None,
    }
