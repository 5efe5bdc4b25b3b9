"""Foveal filter: Perry-Geisler style foveation, batched.

Model (constants from the paper's reference implementation):

* A Gaussian pyramid of ``levels = 6`` levels. Level 0 is the image; level ``k`` is level
  ``k-1`` filtered by a 5x5 Gaussian of ``pyramid_sigma = 0.248`` px and decimated by 2 with
  an antialiased bilinear filter ([1,3,3,1]/8, replicated edges). Every step is linear and
  separable, so going down to level ``k`` and back up to full size (bilinear) is a pair of
  small cached matrices per image side; a batch costs four batched matrix products per level.
* Eccentricity ``theta = dist / p`` degrees with ``p = 3.5`` px per degree at 96 px (scaled
  with the image side), and relative resolution ``R = alpha / (theta + alpha)``, ``alpha = 2.5``.
* Transfer functions ``T_i(R) = exp(-0.5 (2^(i-3) R / sigma)^2)`` with ``sigma = 0.248``. Their
  half-height bandwidths, normalised by the first one (as the reference does), are exactly
  ``1, 1/2, 1/4, ...``. Pyramid level ``k`` is assigned the band that ends at ``b_k = 2^-(k+1)``,
  i.e. it carries detail down to half the resolution of level ``k-1``; its transfer at ``R`` is
  the normalised Gaussian ``T(R) = 2^(-(R / b_k)^2)`` (half height at ``b_k``).
* Pixels with ``R >= b_0 = 1/2`` (``theta <= alpha``: within 8.75 px of the fixation at
  96 px, 2.6 % of the pixels) get the full-resolution image: the fovea. A pixel with
  ``b_k <= R < b_{k-1}`` blends levels ``k-1`` and ``k`` with weight ``B`` on level ``k-1``
  chosen so that the blend passes half amplitude at ``R`` (Perry & Geisler's rule):
  ``B = (1/2 - T_k(R)) / (T_{k-1}(R) - T_k(R))``, which lies in [0, 1] and is continuous
  across bands. (The reference mixes normalised band edges with unnormalised transfer
  functions, which gives blend weights outside [0, 1]; this version keeps its fovea and
  constants but blends consistently.)
* The loss region is everything outside the fovea (97.4 % of the pixels at 96 px).

Blend weights depend only on (H, W, fixation) and are cached; pyramid levels that no pixel
uses (levels 4-5 at 96 px with a central fixation) are never computed.

Example:
    >>> import torch
    >>> from focusmim import masking
    >>> x = torch.rand(2, 3, 96, 96)
    >>> out = masking.build("foveal")(x, None)
    >>> round(out.weight.mean().item(), 3), bool(out.inputs[:, :, 48, 48].eq(x[:, :, 48, 48]).all())
    (0.974, True)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from focusmim.masking.base import (
    Masker,
    MaskOutput,
    center_pixels,
    check_center,
    check_positive,
    pixel_distance,
)
from focusmim.schemas import MASKERS

register = MASKERS.register

_WEIGHT_CACHE: dict = {}
_KERNEL_CACHE: dict = {}


def reduce_kernel(pyramid_sigma: float) -> torch.Tensor:
    """8 float64 taps: a 5-tap Gaussian (``pyramid_sigma``) then the [1,3,3,1]/8 decimation filter.

    Output pixel ``o`` of a reduction reads input pixels ``2o-3 .. 2o+4``.
    """
    t = torch.arange(-2, 3, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / pyramid_sigma) ** 2)
    g = g / g.sum()
    tri = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64) / 8
    full = torch.zeros(8, dtype=torch.float64)
    for a in range(5):  # full convolution of the two 1-D filters
        full[a : a + 4] += g[a] * tri
    return full


def reduce_matrix(n: int, pyramid_sigma: float) -> torch.Tensor:
    """(n // 2, n) float64 matrix of one pyramid reduction (replicated edges); identity if n == 1."""
    if n < 2:
        return torch.eye(n, dtype=torch.float64)
    k = reduce_kernel(pyramid_sigma)
    m = torch.zeros((n // 2, n), dtype=torch.float64)
    rows = torch.arange(n // 2)
    for t in range(8):
        src = (2 * rows - 3 + t).clamp(0, n - 1)
        m.index_put_((rows, src), k[t].expand(n // 2), accumulate=True)
    return m


def upsample_matrix(n: int, size: int) -> torch.Tensor:
    """(size, n) float64 matrix of bilinear (linear, align_corners=False) upsampling."""
    eye = torch.eye(n, dtype=torch.float64).unsqueeze(0)  # (1, n channels, n)
    return F.interpolate(eye, size=size, mode="linear", align_corners=False)[0].T.contiguous()


def level_operators(n: int, levels: int, pyramid_sigma: float, device, dtype) -> list:
    """Per level k >= 1: (down (n_k, n), up (n, n_k)) matrices taking a side of length n to level k and back."""
    key = (n, levels, float(pyramid_sigma), str(device), dtype)
    ops = _KERNEL_CACHE.get(key)
    if ops is None:
        ops, down, size = [None], torch.eye(n, dtype=torch.float64), n
        for _ in range(1, levels):
            down = reduce_matrix(size, pyramid_sigma) @ down
            size = down.shape[0]
            up = upsample_matrix(size, n)
            ops.append((down.to(device=device, dtype=dtype), up.to(device=device, dtype=dtype)))
        _KERNEL_CACHE[key] = ops
    return ops


def foveation_weights(
    R: torch.Tensor, levels: int
) -> torch.Tensor:
    """Blend weights (N, levels, H, W) of the pyramid levels for a resolution map R (N,1,H,W)."""
    N, _, H, W = R.shape
    out = torch.zeros((N, levels, H, W), dtype=R.dtype, device=R.device)
    b = [2.0 ** -(k + 1) for k in range(levels)]
    out[:, 0:1] = (R >= b[0]).to(R.dtype)
    for k in range(1, levels):
        band = (R >= b[k]) & (R < b[k - 1])
        t_prev = torch.pow(2.0, -((R / b[k - 1]) ** 2))
        t_this = torch.pow(2.0, -((R / b[k]) ** 2))
        blend = ((0.5 - t_this) / (t_prev - t_this).clamp_min(1e-12)).clamp(0, 1)
        out[:, k - 1 : k] += torch.where(band, blend, 0.0)
        out[:, k : k + 1] += torch.where(band, 1 - blend, 0.0)
    out[:, levels - 1 : levels] += (R < b[levels - 1]).to(R.dtype)
    return out


@register("foveal")
class Foveal(Masker):
    """Perry-Geisler foveation around a fixation point; the loss is outside the fovea.

    Args:
        center: fixation ``(cy, cx)`` in relative [0, 1] coordinates (default: the centre),
            or a float tensor (B, 2) for one fixation per sample (weights then not cached).
        alpha: half-resolution eccentricity in degrees (2.5).
        pixels_per_degree: pixels per degree of visual angle at 96 px (3.5), scaled with the image side.
        levels: pyramid levels (6).
        pyramid_sigma: std of the 5x5 Gaussian of each pyramid step, in pixels (0.248).

    Example:
        >>> import torch; x = torch.rand(1, 3, 96, 96)
        >>> out = Foveal()(x, None)
        >>> err = (out.inputs - x).abs().mean(dim=1)[0]
        >>> bool(err[48, 50:60].mean() < err[48, 80:96].mean())
        True
    """

    name = "foveal"

    def __init__(
        self,
        center=None,
        alpha: float = 2.5,
        pixels_per_degree: float = 3.5,
        levels: int = 6,
        pyramid_sigma: float = 0.248,
    ):
        self.center = check_center(center)
        self.alpha = check_positive("alpha", alpha)
        self.pixels_per_degree = check_positive("pixels_per_degree", pixels_per_degree)
        self.pyramid_sigma = check_positive("pyramid_sigma", pyramid_sigma)
        if not isinstance(levels, int) or isinstance(levels, bool) or not 2 <= levels <= 10:
            raise ValueError(f"levels={levels!r} is not allowed; allowed: an integer from 2 to 10")
        self.levels = levels
        super().__init__(
            center=None if center is None else self.center,
            alpha=self.alpha,
            pixels_per_degree=self.pixels_per_degree,
            levels=levels,
            pyramid_sigma=self.pyramid_sigma,
        )

    def fovea_radius(self, H: int, W: int) -> float:
        """Radius in pixels of the full-resolution fovea (``alpha * p``): 8.75 px at 96 px."""
        return self.alpha * self.pixels_per_degree * math.sqrt(H * W) / 96.0

    def resolution(self, H: int, W: int, center, device) -> torch.Tensor:
        """Relative resolution map R (N,1,H,W) in (0, 1]."""
        cy, cx = center_pixels(center, H, W, device)
        p = self.pixels_per_degree * math.sqrt(H * W) / 96.0
        theta = pixel_distance(H, W, cy, cx) / p
        return self.alpha / (theta + self.alpha)

    def blend(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """(weights (N,levels,H,W), fovea bool (N,1,H,W), levels in use); cached for a fixed centre."""
        B, _, H, W = x.shape
        center = self.center
        if isinstance(center, torch.Tensor):
            if center.shape[0] != B:
                raise ValueError(
                    f"center has {center.shape[0]} rows for a batch of {B}; allowed: one (cy, cx) per sample"
                )
            key = None
        else:
            key = (H, W, center, self.alpha, self.pixels_per_degree, self.levels, str(x.device), x.dtype)
            hit = _WEIGHT_CACHE.get(key)
            if hit is not None:
                return hit
        R = self.resolution(H, W, center, x.device)
        weights = foveation_weights(R, self.levels).to(x.dtype)
        fovea = R >= 0.5
        used = [k for k in range(self.levels) if bool(weights[:, k].any())]
        out = (weights, fovea, used)
        if key is not None:
            _WEIGHT_CACHE[key] = out
        return out

    def _apply(self, x, generator, *, index, foreground):
        B, _, H, W = x.shape
        weights, fovea, used = self.blend(x)
        ops_h = level_operators(H, self.levels, self.pyramid_sigma, x.device, x.dtype)
        ops_w = level_operators(W, self.levels, self.pyramid_sigma, x.device, x.dtype)
        out = x * weights[:, 0:1] if 0 in used else torch.zeros_like(x)
        for k in used:
            if k == 0:
                continue
            (dh, uh), (dw, uw) = ops_h[k], ops_w[k]
            low = torch.matmul(dh, torch.matmul(x, dw.T))  # level k, (B,3,h_k,w_k)
            up = torch.matmul(uh, torch.matmul(low, uw.T))  # back to (B,3,H,W)
            out.addcmul_(up, weights[:, k : k + 1])
        visible = fovea.expand(B, 1, H, W).contiguous()
        return MaskOutput(inputs=out.clamp_(0, 1), weight=(~visible).to(x.dtype), visible=visible)
