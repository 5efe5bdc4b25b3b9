"""Foveal filter: Perry-Geisler style foveation, batched.

Two variants share the fixation, the constants and the loss region; ``blend`` picks one.

``blend="reference"`` (the default) degrades an image the way the paper's public code
(``data/preprocess.py`` of github.com/RobinWeiler/FocusMIM, run under torchvision 0.14) does:

* Pyramid: ``levels = 6`` levels; level ``k`` is level ``k-1`` smoothed by a 5x5 Gaussian of
  ``pyramid_sigma = 0.248`` px (reflect padding, as ``torchvision``'s ``gaussian_blur``) and
  then resized to ``floor(n/2)`` per side by plain bilinear interpolation (``align_corners=False``,
  no antialiasing: torchvision 0.14's ``Resize`` on a tensor), so a 2x step averages pixel
  pairs. Level ``k`` is brought back by ``k - 1`` bilinear doublings and one last bilinear resize
  to the full size. Every step is linear and separable, so each level is a pair of small cached
  matrices per image side and a batch costs four batched matrix products per level in use.
* Eccentricity ``theta = dist / p`` with ``p = 3.5`` px per degree at 96 px, from the fixation
  at pixel ``(H * cy, W * cx)`` (pixel 48 at 96 px); resolution ``R = alpha / (theta + alpha)``,
  ``alpha = 2.5``. (The reference's images are all 96 px; here ``p`` scales with the image side,
  and at odd sizes the centre is ``W / 2`` rather than its ``int(W / 2)``.)
* Transfer functions ``T_j(R) = exp(-0.5 (2^(j-2) R / sigma)^2)`` for ``j = 0 .. levels-2``
  (``sigma = pyramid_sigma``) and ``T_{levels-1} = 0``. Layer ``L`` (1 .. levels-1) holds the
  pixels with ``2^-L <= R <= 2^-(L-1)`` (the bandwidths normalised to 1, 1/2, 1/4, ..., 0; a
  pixel on an edge goes to the coarser layer). Layer 1 (``R > 1/2``, within 8.75 px of the
  fixation at 96 px) is the fovea: the image itself. A pixel of layer ``L >= 2`` gets
  ``B * level(L-2) + (1 - B) * level(L-1)`` with ``B = (1/2 - T_L) / (T_{L-1} - T_L + 1e-5)``.
* Its quirks, kept on purpose: ``B`` runs from 0.78 at a layer's inner edge to -0.36 at its
  outer edge, so in the outer part of every layer the blend weights leave [0, 1] (the finer
  level enters negatively, removing more detail than the coarser level alone would), and the
  weights jump at every layer edge; in the last layer ``B = 1/2 / (T_{levels-2} + 1e-5)``
  (0.5 to 0.83); the coarsest level is never used; the output is clipped to [0, 1].

``blend="consistent"`` is this package's earlier filter: the same fovea and constants, but a
pyramid decimated with an antialiased bilinear filter ([1,3,3,1]/8, replicated edges) and
level ``k`` assigned the normalised transfer ``2^(-(R / b_k)^2)``, ``b_k = 2^-(k+1)``, so that the
blend of two neighbouring levels passes half amplitude at ``R`` with weights in [0, 1] that are
continuous across layers. It removes less detail than the reference near the fovea (about
0.64x of the reference's mean change 8-16 px from the fixation at 96 px, 0.81x at 16-24 px).

In both, the loss region is everything outside the fovea (97.4 % of the pixels at 96 px).
Blend weights depend only on (H, W, fixation, parameters) and are cached; pyramid levels that
no pixel uses (levels 4-5 at 96 px with a central fixation) are never computed.

Example:
    >>> import torch
    >>> from focusmim import masking
    >>> x = torch.rand(2, 3, 96, 96)
    >>> out = masking.build("foveal")(x, None)
    >>> round(out.weight.mean().item(), 3), bool(out.inputs[:, :, 48, 48].eq(x[:, :, 48, 48]).all())
    (0.974, True)
    >>> w, fovea, used = masking.build("foveal").blend(x)
    >>> round(w.min().item(), 2), round(w.max().item(), 2), used
    (-0.36, 1.36, [0, 1, 2, 3])
    >>> w, fovea, used = masking.build("foveal", blend="consistent").blend(x)
    >>> w.min().item(), w.max().item()
    (0.0, 1.0)
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
from focusmim.config.schemas import FOVEAL_BLENDS, FOVEAL_VERSION, MASKERS

register = MASKERS.register

__all__ = ["Foveal", "FOVEAL_BLENDS", "FOVEAL_VERSION", "reference_weights", "foveation_weights"]

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


def reflect_index(i: int, n: int) -> int:
    """Index ``i`` folded into ``0 .. n-1`` by reflection without repeating the edge (torch's
    ``reflect`` padding, continued periodically so that sides shorter than the pad still work)."""
    if n == 1:
        return 0
    period = 2 * (n - 1)
    i %= period
    return i if i < n else period - i


def blur_matrix(n: int, pyramid_sigma: float) -> torch.Tensor:
    """(n, n) float64 matrix of the reference's 5-tap Gaussian along one side (reflect padding).

    Example:
        >>> m = blur_matrix(6, 0.248)
        >>> bool(torch.allclose(m.sum(dim=1), torch.ones(6, dtype=torch.float64))), round(m[0, 0].item(), 4)
        (True, 0.9994)
    """
    t = torch.linspace(-2.0, 2.0, 5, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / pyramid_sigma) ** 2)
    k = k / k.sum()
    m = torch.zeros((n, n), dtype=torch.float64)
    for o in range(n):
        for a in range(5):
            m[o, reflect_index(o + a - 2, n)] += k[a]
    return m


def resize_matrix(n: int, size: int) -> torch.Tensor:
    """(size, n) float64 matrix of a plain bilinear resize (``align_corners=False``, no antialiasing)."""
    eye = torch.eye(n, dtype=torch.float64).unsqueeze(0)  # (1, n channels, n)
    out = F.interpolate(eye, size=size, mode="linear", align_corners=False, antialias=False)
    return out[0].T.contiguous()


def reference_operators(n: int, levels: int, pyramid_sigma: float, device, dtype) -> list:
    """Per level k >= 1: (down (n_k, n), up (n, n_k)) matrices of the reference's pyramid along a side of length n.

    Down: ``k`` times (blur, bilinear resize to ``floor(size/2)``; 1 where that would be 0, a size
    at which the reference fails). Up: ``k - 1`` bilinear doublings, then a bilinear resize to ``n``.

    Example:
        >>> [tuple(d.shape) for d, u in reference_operators(96, 6, 0.248, "cpu", torch.float32)[1:]]
        [(48, 96), (24, 96), (12, 96), (6, 96), (3, 96)]
    """
    key = ("reference", n, levels, float(pyramid_sigma), str(device), dtype)
    ops = _KERNEL_CACHE.get(key)
    if ops is None:
        ops, down, size = [None], torch.eye(n, dtype=torch.float64), n
        for k in range(1, levels):
            half = max(1, size // 2)
            down = resize_matrix(size, half) @ blur_matrix(size, pyramid_sigma) @ down
            size = half
            up, s = torch.eye(size, dtype=torch.float64), size
            for j in range(k):
                s2 = 2 * s if j < k - 1 else n
                up = resize_matrix(s, s2) @ up
                s = s2
            # the outer Gaussian taps (7e-15) multiply to float32 subnormals within a few levels,
            # which slow CPU matrix products several-fold; entries that small change nothing
            down = torch.where(down.abs() < 1e-20, 0.0, down)
            ops.append((down.to(device=device, dtype=dtype), up.to(device=device, dtype=dtype)))
        _KERNEL_CACHE[key] = ops
    return ops


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


def reference_weights(R: torch.Tensor, levels: int, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's blend weights (N, levels, H, W) and fovea (N, 1, H, W) for a resolution map R (N,1,H,W).

    Layer ``L`` holds ``2^-L <= R <= 2^-(L-1)`` (edges to the coarser layer; the last layer
    reaches down to 0); layer 1 is the fovea (weight 1 on the image); a pixel of layer
    ``L >= 2`` puts ``B`` on level ``L-2`` and ``1 - B`` on level ``L-1``, with
    ``B = (1/2 - T_L) / (T_{L-1} - T_L + 1e-5)`` and ``T_j = exp(-0.5 (2^(j-2) R / sigma)^2)``,
    ``T_{levels-1} = 0``. The weights sum to 1 but are not confined to [0, 1].

    Example:
        >>> R = torch.tensor([1.0, 0.49, 0.26, 0.24]).view(1, 1, 1, 4)
        >>> w, fovea = reference_weights(R, 6, 0.248)
        >>> w[0, :3, 0].T.mul(100).round().int().tolist(), fovea.flatten().tolist()
        ([[100, 0, 0], [76, 24, 0], [-26, 126, 0], [0, 73, 27]], [True, False, False, False])
        >>> bool(torch.allclose(w.sum(dim=1), torch.ones(1, 1, 4)))
        True
    """
    N, _, H, W = R.shape
    edges = [2.0 ** -k for k in range(levels - 1)] + [0.0]  # normalised bandwidths 1, 1/2, ..., 0
    layer = torch.zeros(R.shape, dtype=torch.long, device=R.device)
    for i in range(1, levels):  # a later (coarser) layer wins on a shared edge
        layer[(R >= edges[i]) & (R <= edges[i - 1])] = i
    T = [torch.exp(-0.5 * (2.0 ** (j - 2) * R / sigma) ** 2) for j in range(levels - 1)]
    T.append(torch.zeros_like(R))
    out = torch.zeros((N, levels, H, W), dtype=R.dtype, device=R.device)
    fovea = layer == 1
    out[:, 0:1] = fovea.to(R.dtype)
    for L in range(2, levels):
        sel = layer == L
        B = (0.5 - T[L]) / (T[L - 1] - T[L] + 1e-5)
        out[:, L - 2 : L - 1] += torch.where(sel, B, 0.0)
        out[:, L - 1 : L] += torch.where(sel, 1 - B, 0.0)
    return out, fovea


@register("foveal")
class Foveal(Masker):
    """Perry-Geisler foveation around a fixation point; the loss is outside the fovea.

    Args:
        center: fixation ``(cy, cx)`` in relative [0, 1] coordinates (default: the centre),
            or a float tensor (B, 2) for one fixation per sample (weights then not cached).
        alpha: half-resolution eccentricity in degrees (2.5).
        pixels_per_degree: pixels per degree of visual angle at 96 px (3.5), scaled with the image side.
        levels: pyramid levels (6).
        pyramid_sigma: std of the 5x5 Gaussian of each pyramid step, in pixels (0.248); with
            ``blend="reference"`` also the ``sigma`` of the transfer functions, as in the reference.
        blend: ``"reference"`` (default) degrades as the paper's public code does, quirks
            included; ``"consistent"`` is the earlier filter of this package (antialiased
            pyramid, blend weights in [0, 1]), which degrades the near periphery less.
            See the module docstring.

    Example:
        >>> import torch; x = torch.rand(1, 3, 96, 96)
        >>> out = Foveal()(x, None)
        >>> err = (out.inputs - x).abs().mean(dim=1)[0]
        >>> bool(err[48, 50:60].mean() < err[48, 80:96].mean())
        True
        >>> Foveal(blend="smooth")
        Traceback (most recent call last):
        ...
        ValueError: blend='smooth' is not allowed; allowed: 'reference', 'consistent'
    """

    name = "foveal"

    def __init__(
        self,
        center=None,
        alpha: float = 2.5,
        pixels_per_degree: float = 3.5,
        levels: int = 6,
        pyramid_sigma: float = 0.248,
        blend: str = "reference",
    ):
        self.center = check_center(center)
        self.alpha = check_positive("alpha", alpha)
        self.pixels_per_degree = check_positive("pixels_per_degree", pixels_per_degree)
        self.pyramid_sigma = check_positive("pyramid_sigma", pyramid_sigma)
        if not isinstance(levels, int) or isinstance(levels, bool) or not 2 <= levels <= 10:
            raise ValueError(f"levels={levels!r} is not allowed; allowed: an integer from 2 to 10")
        if blend not in FOVEAL_BLENDS:
            raise ValueError(f"blend={blend!r} is not allowed; allowed: {', '.join(map(repr, FOVEAL_BLENDS))}")
        self.levels = levels
        self.blend_mode = blend
        super().__init__(
            center=None if center is None else self.center,
            alpha=self.alpha,
            pixels_per_degree=self.pixels_per_degree,
            levels=levels,
            pyramid_sigma=self.pyramid_sigma,
            blend=blend,
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
            key = (H, W, center, self.alpha, self.pixels_per_degree, self.levels, self.pyramid_sigma,
                   self.blend_mode, str(x.device), x.dtype)
            hit = _WEIGHT_CACHE.get(key)
            if hit is not None:
                return hit
        R = self.resolution(H, W, center, x.device)
        if self.blend_mode == "reference":
            weights, fovea = reference_weights(R, self.levels, self.pyramid_sigma)
            weights = weights.to(x.dtype)
        else:
            weights = foveation_weights(R, self.levels).to(x.dtype)
            fovea = R >= 0.5
        used = [k for k in range(self.levels) if bool(weights[:, k].ne(0).any())]
        out = (weights, fovea, used)
        if key is not None:
            _WEIGHT_CACHE[key] = out
        return out

    def _apply(self, x, generator, *, index, foreground):
        B, _, H, W = x.shape
        weights, fovea, used = self.blend(x)
        operators = reference_operators if self.blend_mode == "reference" else level_operators
        ops_h = operators(H, self.levels, self.pyramid_sigma, x.device, x.dtype)
        ops_w = operators(W, self.levels, self.pyramid_sigma, x.device, x.dtype)
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
