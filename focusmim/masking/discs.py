"""Disc maskers: masked / blurry periphery, central (context-encoder) mask, covert attention.

All discs use the pixel convention of :mod:`focusmim.masking.base` (integer pixel
coordinates, fixation at ``(cy*H, cx*W)``, ``distance <= radius``), which reproduces the
reference's radius / masked-fraction table at 96 px.

Example:
    >>> import torch
    >>> from focusmim import masking
    >>> x = torch.rand(2, 3, 96, 96)
    >>> out = masking.build("masked_periphery", ratio=0.8)(x, None)
    >>> round(out.weight.mean().item(), 3)
    0.805
"""
from __future__ import annotations

import torch

from focusmim.masking.base import (
    Masker,
    MaskOutput,
    center_pixels,
    check_center,
    check_positive,
    check_ratio,
    composite,
    disc_radius,
    gaussian_blur,
    mean_fill,
    pixel_distance,
    scaled_sigma,
)
from focusmim.config.schemas import MASKERS, PLACEMENTS  # PLACEMENTS: declared with the masker's parameters

register = MASKERS.register

_DISC_CACHE: dict = {}


def _fixed_disc(H: int, W: int, radius: int, center: tuple[float, float], device) -> torch.Tensor:
    """Cached bool (1,1,H,W) disc for a fixed centre (never handed out: callers copy)."""
    key = (H, W, radius, center, str(device))
    out = _DISC_CACHE.get(key)
    if out is None:
        cy, cx = center_pixels(center, H, W, device)
        out = pixel_distance(H, W, cy, cx) <= radius
        _DISC_CACHE[key] = out
    return out


def _finish(x: torch.Tensor, visible: torch.Tensor, fill: torch.Tensor) -> MaskOutput:
    """Masked output from a (N,1,H,W) visible map (N = 1 or B): fresh tensors, no cache aliasing."""
    B, _, H, W = x.shape
    hidden = (~visible).to(x.dtype)
    inputs = composite(x, hidden, fill)
    if hidden.shape[0] != B:
        hidden = hidden.expand(B, 1, H, W).contiguous()
        visible = visible.expand(B, 1, H, W).contiguous()
    return MaskOutput(inputs=inputs, weight=hidden, visible=visible)


class _DiscMasker(Masker):
    """A disc at the fixation point; subclasses choose which side is hidden and the fill."""

    hide_inside = False

    def __init__(self, ratio: float, center=None, **extra):
        self.ratio = check_ratio("ratio", ratio)
        self.center = check_center(center)
        super().__init__(ratio=self.ratio, center=None if center is None else self.center, **extra)

    def radius(self, H: int, W: int) -> int:
        # masked periphery: the disc keeps (1 - ratio) visible; central: the disc hides ratio
        frac = self.ratio if self.hide_inside else 1.0 - self.ratio
        return disc_radius(H, W, frac)

    def _disc(self, x: torch.Tensor, center=None) -> torch.Tensor:
        H, W = x.shape[-2:]
        center = self.center if center is None else center
        if isinstance(center, torch.Tensor):
            if center.shape[0] != x.shape[0]:
                raise ValueError(
                    f"center has {center.shape[0]} rows for a batch of {x.shape[0]}; allowed: one (cy, cx) per sample"
                )
            cy, cx = center_pixels(center, H, W, x.device)
            return pixel_distance(H, W, cy, cx) <= self.radius(H, W)
        return _fixed_disc(H, W, self.radius(H, W), center, x.device)

    def _fill(self, x: torch.Tensor) -> torch.Tensor:
        return mean_fill(x)

    def _apply(self, x, generator, *, index, foreground):
        d = self._disc(x)
        return _finish(x, ~d if self.hide_inside else d, self._fill(x))


@register("masked_periphery")
class MaskedPeriphery(_DiscMasker):
    """Keep a disc around the fixation point, fill the periphery with the mean colour.

    The disc radius is ``int(sqrt(H*W*(1-ratio)/pi))`` (24 px at 96 px for the paper's 0.8);
    the periphery is the loss region. ``center`` is ``(cy, cx)`` in relative [0, 1]
    coordinates (default: image centre) or a float tensor (B, 2) for one fixation per sample.

    Example:
        >>> import torch; x = torch.rand(1, 3, 96, 96)
        >>> m = MaskedPeriphery(ratio=0.8); m.radius(96, 96)
        24
        >>> bool(m(x, None).inputs[0, :, 0, 0].eq(x[0].mean(dim=(1, 2))).all())
        True
    """

    name = "masked_periphery"

    def __init__(self, ratio: float = 0.8, center=None):
        super().__init__(ratio, center)


@register("blurry_periphery")
class BlurryPeriphery(MaskedPeriphery):
    """Masked periphery filled with a Gaussian blur of the image instead of the mean colour.

    ``sigma`` is in pixels at 96 px and scales with the image side (default 4 px at 96 px).

    Example:
        >>> import torch; x = torch.rand(1, 3, 96, 96)
        >>> out = BlurryPeriphery(ratio=0.8, sigma=4.0)(x, None)
        >>> bool(out.inputs[0, :, 48, 48].eq(x[0, :, 48, 48]).all()), bool(out.inputs[0, :, 0, 0].ne(x[0, :, 0, 0]).any())
        (True, True)
    """

    name = "blurry_periphery"

    def __init__(self, ratio: float = 0.8, sigma: float = 4.0, center=None):
        self.sigma = check_positive("sigma", sigma)
        _DiscMasker.__init__(self, ratio, center, sigma=self.sigma)

    def _fill(self, x):
        H, W = x.shape[-2:]
        return gaussian_blur(x, scaled_sigma(self.sigma, H, W))


@register("central")
class Central(_DiscMasker):
    """Context-encoder style: hide a central disc (the inverse of the masked periphery).

    The disc of radius ``int(sqrt(H*W*ratio/pi))`` covers about ``ratio`` of the image; it is
    filled with the mean colour and is the loss region. Default ratio 0.25.

    Example:
        >>> import torch; out = Central(ratio=0.25)(torch.rand(1, 3, 96, 96), None)
        >>> round(out.weight.mean().item(), 2), out.weight[0, 0, 48, 48].item(), out.weight[0, 0, 0, 0].item()
        (0.25, 1.0, 0.0)
    """

    name = "central"
    hide_inside = True

    def __init__(self, ratio: float = 0.25, center=None):
        super().__init__(ratio, center)


OBJECT_TOLERANCE = 0.01  # object placement: pixels within 1 % of the map's maximum


def object_centers(foreground: torch.Tensor, tolerance: float = OBJECT_TOLERANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates (B,), (B,) of the object's centre in each foreground map (B,1,H,W).

    The centre is the centroid of the pixels whose confidence is within ``tolerance`` (relative)
    of the map's maximum, each weighted by its confidence. rembg's maps saturate at 1.0 over the
    whole object, so the argmax alone would pick the first saturated pixel in raster order (the
    object's top edge); the centroid of the saturated region is its middle. A map with no
    positive pixel gives the image centre. (For a strongly non-convex object, e.g. a ring, the
    centroid can fall outside the object.)

    Example:
        >>> import torch
        >>> fg = torch.zeros(1, 1, 8, 8); fg[0, 0, 1:4, 2:7] = 1.0; fg[0, 0, 6, 6] = 0.5
        >>> [t.tolist() for t in object_centers(fg)]
        [[2.0], [4.0]]
    """
    B, _, H, W = foreground.shape
    f = foreground.reshape(B, H * W).float()
    top = f.amax(dim=1, keepdim=True)
    near = f >= top * (1.0 - tolerance)
    w = torch.where(near, f, torch.zeros_like(f))
    total = w.sum(dim=1, keepdim=True)
    # no positive pixel: every pixel is "near" the maximum 0; weigh them equally (the image centre)
    w = torch.where(total > 0, w, near.to(f.dtype))
    w = w / w.sum(dim=1, keepdim=True)
    ii = torch.arange(H, device=f.device, dtype=f.dtype).repeat_interleave(W)
    jj = torch.arange(W, device=f.device, dtype=f.dtype).repeat(H)
    return w @ ii, w @ jj


@register("covert_attention")
class CovertAttention(MaskedPeriphery):
    """Masked periphery plus a second visible disc of the same radius ("covert attention").

    ``placement="random"``: the second disc lies fully inside the image at a position drawn
    from ``generator``. ``placement="object"``: it is centred on the object, at the
    confidence-weighted centroid of the pixels of ``foreground`` (required) within 1 % of the
    map's maximum (:func:`object_centers`). Both discs are excluded from the loss.

    Example:
        >>> import torch; x = torch.rand(2, 3, 96, 96); g = torch.Generator().manual_seed(0)
        >>> out = CovertAttention(ratio=0.8, placement="random")(x, g)
        >>> bool((out.weight.mean(dim=(1, 2, 3)) < 0.805).all())
        True
    """

    name = "covert_attention"

    def __init__(self, ratio: float = 0.8, placement: str = "random", center=None):
        if placement not in PLACEMENTS:
            raise ValueError(f"placement={placement!r} is not allowed; allowed: {', '.join(map(repr, PLACEMENTS))}")
        self.placement = placement
        self.random = placement == "random"
        _DiscMasker.__init__(self, ratio, center, placement=placement)

    def second_centers(self, x: torch.Tensor, generator, foreground) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel coordinates (B,) of the second disc's centre."""
        B, _, H, W = x.shape
        if self.placement == "object":
            if foreground is None:
                raise ValueError(
                    "foreground=None is not allowed with placement='object'; allowed: a float tensor (B,1,H,W)"
                )
            return object_centers(foreground.reshape(B, 1, H, W))
        r = self.radius(H, W)
        u = torch.rand((B, 2), generator=generator, device=x.device)
        # a centre in [r, size-1-r] keeps every pixel of the disc inside the image
        span_y, span_x = max(H - 1 - 2 * r, 0), max(W - 1 - 2 * r, 0)
        cy = (r + u[:, 0] * span_y) if span_y > 0 else torch.full((B,), (H - 1) / 2, device=x.device)
        cx = (r + u[:, 1] * span_x) if span_x > 0 else torch.full((B,), (W - 1) / 2, device=x.device)
        return cy, cx

    def _apply(self, x, generator, *, index, foreground):
        B, _, H, W = x.shape
        first = self._disc(x)
        cy, cx = self.second_centers(x, generator, foreground)
        second = pixel_distance(H, W, cy, cx) <= self.radius(H, W)
        return _finish(x, first | second, self._fill(x))
