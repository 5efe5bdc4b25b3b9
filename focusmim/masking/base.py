"""Shared pieces of every masker: the output type, input checks and batched helpers.

Geometry conventions (used by every masker, so that masks line up across strategies):

* Patch grid: 12 x 12 cells relative to the image, the cell of pixel ``(i, j)`` is
  ``(floor(12 i / H), floor(12 j / W))``.  At 96 px the cells are exactly the paper's
  8 x 8 patches; at other sizes (any ``H, W >= 12``) the cells differ by at most one pixel.
* Discs: pixel ``(i, j)`` sits at integer coordinates and a fixation point at relative
  position ``(cy, cx)`` sits at ``(cy * H, cx * W)``; a pixel is inside a disc of radius ``r``
  when its distance is ``<= r``.  With the default centre ``(0.5, 0.5)`` this reproduces the
  reference's masked fractions for every ratio (within 0.001 at 96 px).

Example:
    >>> import torch
    >>> from focusmim.masking.base import patch_index, disc
    >>> patch_index(96, 96)[0, :10].tolist()
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    >>> disc(96, 96, radius=24).float().mean().item() > 0.19
    True
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from focusmim.config.registry import Param

GRID = 12  # patches per side, relative to the image size
MIN_SIZE = GRID

__all__ = [
    "MaskOutput",
    "Masker",
    "GRID",
    "apply_foreground",
    "check_ratio",
    "check_positive",
    "check_center",
    "patch_index",
    "disc",
    "disc_radius",
    "mean_fill",
    "gaussian_blur",
    "scaled_sigma",
    "center_pixels",
    "pixel_distance",
]


@dataclass
class MaskOutput:
    """What a masker returns for one batch.

    Attributes:
        inputs: float (B,3,H,W), what the encoder sees.
        weight: float (B,1,H,W) in [0,1], where the reconstruction loss counts.
        visible: bool (B,1,H,W), pixels shown unaltered (for plots), or None.
    """

    inputs: torch.Tensor
    weight: torch.Tensor
    visible: torch.Tensor | None = None


# ------------------------------------------------------------------ validation
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


_RATIO = Param("float", low=0, high=1, low_open=True, high_open=True)


def check_ratio(name: str, value: Any) -> float:
    """Return ``value`` as float if it lies strictly between 0 and 1, else raise ValueError."""
    _RATIO.check(name, value)
    return float(value)


def check_positive(name: str, value: Any, allow_none: bool = False) -> float | None:
    """Return ``value`` as float if it is a positive number (or None when allowed)."""
    Param("float", low=0, low_open=True, none=allow_none).check(name, value)
    return None if value is None else float(value)


def check_center(value: Any) -> tuple[float, float] | torch.Tensor:
    """Validate a fixation point: None, (cy, cx) in [0,1], or a float tensor (B,2) in [0,1]."""
    allowed = "None (image centre), a pair (cy, cx) in [0, 1], or a float tensor of shape (B, 2) in [0, 1]"
    if value is None:
        return (0.5, 0.5)
    if isinstance(value, torch.Tensor):
        if value.ndim != 2 or value.shape[1] != 2 or not value.is_floating_point():
            raise ValueError(f"center has shape {tuple(value.shape)}; allowed: {allowed}")
        if bool(((value < 0) | (value > 1)).any()):
            raise ValueError(f"center has values outside [0, 1]; allowed: {allowed}")
        return value
    if (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(_is_number(v) and 0 <= v <= 1 for v in value)
    ):
        return (float(value[0]), float(value[1]))
    raise ValueError(f"center={value!r} is not allowed; allowed: {allowed}")


def check_images(x: Any) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x has shape/type {shape}; allowed: a float tensor of shape (B, 3, H, W)")
    H, W = x.shape[-2:]
    if H < MIN_SIZE or W < MIN_SIZE:
        raise ValueError(
            f"image size {H}x{W} is too small; allowed: H and W of at least {MIN_SIZE} "
            f"(the patch grid is {GRID}x{GRID} relative to the image)"
        )


def check_generator(generator: Any, x: torch.Tensor, required: bool) -> None:
    if generator is None:
        if required:
            raise ValueError("generator=None is not allowed for a random masker; allowed: a torch.Generator")
        return
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator={generator!r} is not allowed; allowed: a torch.Generator")
    gd, xd = generator.device, x.device
    if gd.type != xd.type or (gd.index is not None and xd.index is not None and gd.index != xd.index):
        raise ValueError(
            f"generator is on {gd} but x is on {xd}; allowed: a torch.Generator on the device of x"
        )


def check_foreground(foreground: Any, x: torch.Tensor) -> None:
    if foreground is None:
        return
    B, _, H, W = x.shape
    if not isinstance(foreground, torch.Tensor) or tuple(foreground.shape) != (B, 1, H, W):
        shape = tuple(foreground.shape) if isinstance(foreground, torch.Tensor) else type(foreground).__name__
        raise ValueError(f"foreground has shape {shape}; allowed: a float tensor of shape {(B, 1, H, W)}")


# ------------------------------------------------------------------ base class
class Masker:
    """Base class: validates the call, then runs the batched ``_apply``.

    Subclasses set ``name``, ``random`` (whether a generator is required) and store their
    parameters in ``self.params`` (used by ``repr``).
    """

    name: str = "masker"
    random: bool = False

    def __init__(self, **params: Any):
        self.params = params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    def __call__(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        index: torch.Tensor | None = None,
        foreground: torch.Tensor | None = None,
    ) -> MaskOutput:
        check_images(x)
        check_generator(generator, x, self.random)
        check_foreground(foreground, x)
        if index is not None:
            if not isinstance(index, torch.Tensor) or index.ndim != 1 or index.shape[0] != x.shape[0] or (
                index.is_floating_point() or index.dtype == torch.bool
            ):
                raise ValueError(
                    f"index must be an integer tensor of shape ({x.shape[0]},); allowed: dataset indices"
                )
        return self._apply(x, generator, index=index, foreground=foreground)

    def _apply(self, x, generator, *, index, foreground) -> MaskOutput:  # pragma: no cover
        raise NotImplementedError


def _short(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor{tuple(v.shape)}"
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v)


# ------------------------------------------------------------------ helpers
def apply_foreground(weight: torch.Tensor, foreground: torch.Tensor | None) -> torch.Tensor:
    """Weight the loss region by a foreground confidence map: ``weight * foreground``.

    Composes with any masker; ``foreground=None`` returns ``weight`` unchanged.

    Example:
        >>> w = torch.ones(1, 1, 2, 2); fg = torch.tensor([[[[0.0, 1.0], [0.5, 1.0]]]])
        >>> apply_foreground(w, fg).flatten().tolist()
        [0.0, 1.0, 0.5, 1.0]
    """
    if not isinstance(weight, torch.Tensor) or weight.ndim != 4 or weight.shape[1] != 1:
        raise ValueError("weight must be a float tensor of shape (B, 1, H, W); allowed: a MaskOutput.weight")
    if foreground is None:
        return weight
    if not isinstance(foreground, torch.Tensor) or foreground.shape != weight.shape:
        shape = tuple(foreground.shape) if isinstance(foreground, torch.Tensor) else type(foreground).__name__
        raise ValueError(f"foreground has shape {shape}; allowed: the shape of weight {tuple(weight.shape)}")
    if foreground.dtype == torch.uint8:
        foreground = foreground.to(weight.dtype) / 255.0
    return weight * foreground.to(weight.dtype)


_PATCH_CACHE: dict = {}


def patch_index(H: int, W: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """int64 (H, W) map from pixel to patch number ``row * 12 + col`` on the relative grid."""
    key = (H, W, str(device))
    out = _PATCH_CACHE.get(key)
    if out is None:
        rows = torch.arange(H, device=device) * GRID // H
        cols = torch.arange(W, device=device) * GRID // W
        out = rows[:, None] * GRID + cols[None, :]
        _PATCH_CACHE[key] = out
    return out


def disc_radius(H: int, W: int, visible_fraction: float) -> int:
    """Radius in pixels of a disc covering about ``visible_fraction`` of an H x W image."""
    return int(math.sqrt(H * W * visible_fraction / math.pi))


def center_pixels(center, H: int, W: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixation point(s) in pixel coordinates: tensors (N,1,1,1) for cy and cx (N=1 or B)."""
    if isinstance(center, torch.Tensor):
        c = center.to(device=device, dtype=torch.float32)
        return (c[:, 0] * H).view(-1, 1, 1, 1), (c[:, 1] * W).view(-1, 1, 1, 1)
    cy = torch.tensor(center[0] * H, device=device, dtype=torch.float32).view(1, 1, 1, 1)
    cx = torch.tensor(center[1] * W, device=device, dtype=torch.float32).view(1, 1, 1, 1)
    return cy, cx


def pixel_distance(H: int, W: int, cy: torch.Tensor, cx: torch.Tensor) -> torch.Tensor:
    """Distance (N,1,H,W) of every pixel (integer coordinates) to fixation points in pixels."""
    ii = torch.arange(H, device=cy.device, dtype=torch.float32).view(1, 1, H, 1)
    jj = torch.arange(W, device=cy.device, dtype=torch.float32).view(1, 1, 1, W)
    dy = ii - cy.view(-1, 1, 1, 1)
    dx = jj - cx.view(-1, 1, 1, 1)
    return torch.sqrt(dy * dy + dx * dx)


def disc(H: int, W: int, radius: float, center=None, device="cpu") -> torch.Tensor:
    """bool (N,1,H,W) disc (N=1 for a fixed centre, else per sample), ``distance <= radius``."""
    cy, cx = center_pixels(check_center(center), H, W, device)
    return pixel_distance(H, W, cy, cx) <= radius


def mean_fill(x: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel mean colour, shape (B,3,1,1)."""
    return x.mean(dim=(2, 3), keepdim=True)


def scaled_sigma(sigma: float, H: int, W: int) -> float:
    """A blur width given in pixels at 96 px, scaled to an H x W image (``sigma * sqrt(H*W) / 96``)."""
    return sigma * math.sqrt(H * W) / 96.0


_BLUR_CACHE: dict = {}


def blur_matrix(n: int, sigma: float, device, dtype) -> torch.Tensor:
    """(n, n) matrix of a 1-D Gaussian blur with reflect padding folded in (cached).

    The kernel radius is ``ceil(3 sigma)``, cut to ``n - 1`` for small images (renormalised).
    """
    key = (n, float(sigma), str(device), dtype)
    m = _BLUR_CACHE.get(key)
    if m is None:
        r = min(int(math.ceil(3 * sigma)), n - 1)
        t = torch.arange(-r, r + 1, dtype=torch.float64)
        taps = torch.exp(-0.5 * (t / sigma) ** 2)
        taps = taps / taps.sum()
        m = torch.zeros((n, n), dtype=torch.float64)
        rows = torch.arange(n, dtype=torch.int64)
        for j, off in enumerate(range(-r, r + 1)):
            src = rows + off
            src = torch.where(src < 0, -src, src)  # reflect (edge pixel not repeated)
            src = torch.where(src > n - 1, 2 * (n - 1) - src, src)
            m.index_put_((rows, src), taps[j].expand(n), accumulate=True)
        m = m.to(device=device, dtype=dtype)
        _BLUR_CACHE[key] = m
    return m


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (B,C,H,W) batch: kernel ``2*ceil(3 sigma)+1``, reflect padding.

    Computed as two matrix products with cached (H,H) and (W,W) blur matrices, which is much
    faster on CPU than a single-channel convolution and identical to it.

    Example:
        >>> x = torch.zeros(1, 1, 15, 15); x[..., 7, 7] = 1
        >>> y = gaussian_blur(x, 1.0); round(y.sum().item(), 4), y[..., 7, 7].item() < 1
        (1.0, True)
    """
    check_positive("sigma", sigma)
    H, W = x.shape[-2:]
    mh = blur_matrix(H, sigma, x.device, x.dtype)
    mw = blur_matrix(W, sigma, x.device, x.dtype)
    return torch.matmul(mh, torch.matmul(x, mw.T))


def composite(x: torch.Tensor, weight: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """``x`` where ``weight == 0``, ``fill`` where ``weight == 1`` (exactly), one fused pass.

    ``fill`` is a (B,3,1,1) colour or a (B,3,H,W) image; ``weight`` is (N,1,H,W), N = 1 or B.
    """
    return torch.lerp(x, fill.to(x.dtype).expand_as(x), weight.to(x.dtype))
