"""Batched, seeded random-resized crops (torchvision-style sampling) for any channel count.

All crop parameters of a batch are drawn in one call from an explicit generator and
applied in one ``F.affine_grid`` + ``F.grid_sample`` call (bilinear,
``align_corners=False``, border padding), on CPU or CUDA. Concatenate image and
foreground maps on the channel axis to give them the identical crop.

Example:
    >>> import torch
    >>> from focusmim.training.augment import random_resized_crop
    >>> g = torch.Generator().manual_seed(0)
    >>> x = torch.rand(4, 3 + 1, 32, 32)          # image and foreground map together
    >>> y = random_resized_crop(x, g, scale=(0.08, 1.0))
    >>> y.shape
    torch.Size([4, 4, 32, 32])
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from focusmim.config.registry import Param

__all__ = ["random_resized_crop", "sample_crop_boxes", "apply_crop_boxes", "FITS", "ATTEMPTS"]


_SCALE = Param("range", low=0, high=1, low_open=True)  # the crop's share of the image's area
_RATIO = Param("range", low=0, low_open=True)  # the crop's aspect ratio w/h
_BATCH = Param("int", low=0)
FITS = ("clamp", "redraw")  # what happens to a drawn box that does not fit in the image
_FIT = Param("choice", choices=FITS)
ATTEMPTS = 10  # fit="redraw": candidates per sample, as torchvision's RandomResizedCrop


def _checked(param: Param, name: str, value) -> tuple[float, float]:
    param.check(name, value)
    return float(value[0]), float(value[1])


def sample_crop_boxes(
    batch: int, height: int, width: int, generator: torch.Generator, *,
    scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip: bool = False, fit: str = "clamp",
) -> torch.Tensor:
    """Crop boxes ``(B, 5)``: ``top, left, h, w`` in (fractional) pixels and a flip flag (0/1).

    The area fraction is uniform in ``scale`` and the aspect ratio ``w/h`` log-uniform in
    ``ratio`` (as torchvision samples them). A box that does not fit in the image is, with
    ``fit="clamp"`` (the default, which every stored run used), clamped to the image: such
    a draw becomes a narrower or shorter crop, so large crops are more frequent than with
    torchvision (mean area 0.54 instead of 0.48 at the default scale and ratio; see
    ``benchmarks/bench_crop_distribution.py``). One ``torch.rand(B, 5)`` call.
    With ``fit="redraw"``, torchvision's rule, batched: :data:`ATTEMPTS` candidates per
    sample, the first that fits is kept, and where none fits torchvision's fallback (the
    centred crop of the largest box whose ratio is within ``ratio``). Unlike torchvision,
    sides are not rounded to whole pixels. The box's position is uniform over the valid range.
    """
    _BATCH.check("batch", batch)
    s0, s1 = _checked(_SCALE, "scale", scale)
    r0, r1 = _checked(_RATIO, "ratio", ratio)
    _FIT.check("fit", fit)
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator must be a torch.Generator (randomness only comes from it)")
    if fit == "redraw":
        return _redrawn_boxes(batch, height, width, generator, (s0, s1), (r0, r1), flip)
    u = torch.rand(batch, 5, generator=generator, device=generator.device)
    area = (s0 + (s1 - s0) * u[:, 0]) * height * width
    log_r = math.log(r0) + (math.log(r1) - math.log(r0)) * u[:, 1]
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(min=1.0, max=float(width))
    h = torch.sqrt(area / aspect).clamp(min=1.0, max=float(height))
    top = (height - h) * u[:, 2]
    left = (width - w) * u[:, 3]
    fl = (u[:, 4] < 0.5).float() if flip else torch.zeros_like(u[:, 4])
    return torch.stack([top, left, h, w, fl], dim=1)


def _redrawn_boxes(batch: int, height: int, width: int, generator: torch.Generator, scale, ratio,
                   flip: bool) -> torch.Tensor:
    """:func:`sample_crop_boxes` with ``fit="redraw"``: all candidates in one ``torch.rand`` call."""
    (s0, s1), (r0, r1), k = scale, ratio, ATTEMPTS
    u = torch.rand(batch, 2 * k + 3, generator=generator, device=generator.device)
    area = (s0 + (s1 - s0) * u[:, :k]) * height * width
    aspect = torch.exp(math.log(r0) + (math.log(r1) - math.log(r0)) * u[:, k:2 * k])
    w, h = torch.sqrt(area * aspect), torch.sqrt(area / aspect)
    fits = (w <= width) & (h <= height)
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # the first candidate that fits
    ok = fits.any(dim=1)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
    # torchvision's fallback: the whole image, or its largest centred box with a ratio in range
    in_ratio = width / height
    if in_ratio < r0:
        fw, fh = float(width), width / r0
    elif in_ratio > r1:
        fw, fh = height * r1, float(height)
    else:
        fw, fh = float(width), float(height)
    w = torch.where(ok, w, torch.full_like(w, fw)).clamp(min=1.0, max=float(width))
    h = torch.where(ok, h, torch.full_like(h, fh)).clamp(min=1.0, max=float(height))
    top = torch.where(ok, (height - h) * u[:, 2 * k], (height - h) / 2)
    left = torch.where(ok, (width - w) * u[:, 2 * k + 1], (width - w) / 2)
    fl = (u[:, 2 * k + 2] < 0.5).float() if flip else torch.zeros_like(top)
    return torch.stack([top, left, h, w, fl], dim=1)


def apply_crop_boxes(x: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Crop each ``x[i]`` to ``boxes[i]`` (see :func:`sample_crop_boxes`) and resize to ``size`` (default: x's)."""
    if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.is_floating_point()):
        raise ValueError(f"x must be a float tensor (B,C,H,W); got {getattr(x, 'dtype', type(x))} "
                         f"{tuple(getattr(x, 'shape', ()))}")
    B, C, H, W = x.shape
    if not (isinstance(boxes, torch.Tensor) and boxes.shape == (B, 5)):
        raise ValueError(f"boxes must be a tensor of shape ({B}, 5); got {tuple(getattr(boxes, 'shape', ()))}")
    out_h, out_w = (H, W) if size is None else size
    boxes = boxes.to(device=x.device, dtype=torch.float32)
    top, left, h, w, fl = boxes.unbind(1)
    # normalised coordinates (align_corners=False: -1 and 1 are the outer pixel edges)
    sx = w / W * torch.where(fl > 0.5, -1.0, 1.0)
    sy = h / H
    cx = (left + w / 2) / W * 2 - 1
    cy = (top + h / 2) / H * 2 - 1
    zero = torch.zeros_like(sx)
    theta = torch.stack([torch.stack([sx, zero, cx], 1), torch.stack([zero, sy, cy], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), [B, C, out_h, out_w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_resized_crop(
    x: torch.Tensor, generator: torch.Generator, *,
    scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip: bool = False, fit: str = "clamp",
) -> torch.Tensor:
    """A random resized crop of every sample, output the same size as the input.

    Args:
        x: float ``(B,C,H,W)``, any ``C`` (all channels get the same crop).
        generator: a ``torch.Generator`` on ``x``'s device.
        scale: range of the crop's area as a fraction of the image, ``0 < low <= high <= 1``.
        ratio: range of the crop's aspect ratio ``w/h`` (sampled log-uniformly).
        flip: also mirror left-right with probability 1/2.
        fit: a drawn box that does not fit in the image is ``"clamp"``-ed to it (the default)
            or drawn again as torchvision does (``"redraw"``); see :func:`sample_crop_boxes`.

    Example:
        >>> import torch
        >>> x = torch.rand(2, 1, 8, 8)
        >>> g = torch.Generator().manual_seed(0)
        >>> torch.allclose(random_resized_crop(x, g, scale=(1, 1), ratio=(1, 1)), x, atol=1e-5)
        True
    """
    if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.is_floating_point()):
        raise ValueError(f"x must be a float tensor (B,C,H,W); got {getattr(x, 'dtype', type(x))} "
                         f"{tuple(getattr(x, 'shape', ()))}")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator must be a torch.Generator (randomness only comes from it)")
    if generator.device.type != x.device.type:
        raise ValueError(f"generator is on {generator.device} but x is on {x.device}; allowed: the same device type")
    if not isinstance(flip, bool):
        raise ValueError(f"flip={flip!r} is not allowed; allowed: True, False")
    B, _, H, W = x.shape
    boxes = sample_crop_boxes(B, H, W, generator, scale=scale, ratio=ratio, flip=flip, fit=fit)
    return apply_crop_boxes(x, boxes)
