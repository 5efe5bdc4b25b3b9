"""Patch maskers: no mask, random patches (optionally fixed per image), blurry patches.

Example:
    >>> import torch
    >>> from focusmim import masking
    >>> x = torch.rand(4, 3, 96, 96)
    >>> g = torch.Generator().manual_seed(0)
    >>> out = masking.build("random_patches", ratio=0.6)(x, g)
    >>> (out.weight.sum(dim=(1, 2, 3)) / 64).tolist()  # 8x8 px patches at 96 px
    [86.0, 86.0, 86.0, 86.0]
"""
from __future__ import annotations

import torch

from focusmim.masking.base import (
    GRID,
    Masker,
    MaskOutput,
    check_positive,
    check_ratio,
    composite,
    gaussian_blur,
    mean_fill,
    patch_index,
    scaled_sigma,
)
from focusmim.config.registry import Param
from focusmim.config.schemas import MASKERS

register = MASKERS.register

N_PATCHES = GRID * GRID
_M32 = 0xFFFFFFFF


def _mix32(h: torch.Tensor) -> torch.Tensor:
    """An integer hash on 32-bit values held in int64 (no overflow: multiplier < 2**27)."""
    h = h & _M32
    h = (((h >> 16) ^ h) * 0x45D9F3B) & _M32
    h = (((h >> 16) ^ h) * 0x45D9F3B) & _M32
    return ((h >> 16) ^ h) & _M32


def fixed_keys(index: torch.Tensor, seed: int, n: int = N_PATCHES) -> torch.Tensor:
    """Deterministic sort keys (B, n), int64, from dataset indices, patch numbers and a seed.

    The same (index, seed) always gives the same keys, on any device and in any batch.
    Keys are unique within a row (the patch number is appended), so argsort has no ties.
    """
    idx = index.to(torch.int64).view(-1, 1)
    patch = torch.arange(n, device=index.device, dtype=torch.int64).view(1, -1)
    h = _mix32(torch.full_like(idx, seed & _M32) ^ 0x9E3779B9)
    h = _mix32(h ^ (idx & _M32))
    h = _mix32(h ^ (idx >> 32) ^ 0x85EBCA6B)
    h = _mix32(h ^ (patch * 0x27D4EB2F & _M32))
    return h * n + patch


def hidden_patches(
    x: torch.Tensor, generator: torch.Generator | None, ratio: float, fixed: bool, seed: int, index
) -> torch.Tensor:
    """float (B,1,H,W), 1 on exactly ``int(144 * ratio)`` hidden patches per image, else 0."""
    B, _, H, W = x.shape
    n_hidden = int(N_PATCHES * ratio)
    if fixed:
        keys = fixed_keys(index.to(x.device), seed)
    else:
        keys = torch.rand((B, N_PATCHES), generator=generator, device=x.device)
    order = keys.topk(n_hidden, dim=1, largest=False, sorted=False).indices
    hidden = torch.zeros((B, N_PATCHES), dtype=x.dtype, device=x.device).scatter_(1, order, 1.0)
    pid = patch_index(H, W, x.device).reshape(-1)
    return hidden.index_select(1, pid).view(B, 1, H, W)


@register("none")
class NoMask(Masker):
    """No mask: the plain autoencoder, inputs unchanged and the loss everywhere.

    Example:
        >>> import torch; x = torch.rand(2, 3, 32, 32)
        >>> out = NoMask()(x, None); bool(out.weight.eq(1).all()), bool(out.inputs.eq(x).all())
        (True, True)
    """

    name = "none"

    def __init__(self):
        super().__init__()

    def _apply(self, x, generator, *, index, foreground):
        B, _, H, W = x.shape
        return MaskOutput(
            inputs=x,
            weight=torch.ones((B, 1, H, W), dtype=x.dtype, device=x.device),
            visible=torch.ones((B, 1, H, W), dtype=torch.bool, device=x.device),
        )


def _check_patch_params(ratio, fixed, seed) -> tuple[float, bool, int]:
    ratio = check_ratio("ratio", ratio)
    if int(N_PATCHES * ratio) < 1:
        raise ValueError(
            f"ratio={ratio!r} hides no patch; allowed: a number in [1/{N_PATCHES}, 1) "
            f"(int({N_PATCHES} * ratio) patches are hidden)"
        )
    Param("bool").check("fixed", fixed)
    Param("int", low=0).check("seed", seed)
    return ratio, fixed, seed


@register("random_patches")
class RandomPatches(Masker):
    """Hide ``int(144 * ratio)`` of the 12x12 patches, fill them with the image's mean colour.

    The hidden patches are the loss region. With ``fixed=True`` the positions depend only on
    the dataset ``index`` and ``seed`` (the same patches every epoch; ``index`` is required);
    otherwise they are drawn from ``generator``. A random batch call is one stream: calling
    sample by sample with the same generator state gives different (equally valid) masks.

    Example:
        >>> import torch; x = torch.rand(2, 3, 96, 96)
        >>> m = RandomPatches(ratio=0.6, fixed=True, seed=3)
        >>> a = m(x, None, index=torch.tensor([5, 9])); b = m(x, None, index=torch.tensor([5, 9]))
        >>> bool(a.weight.eq(b.weight).all()), round(a.weight.mean().item(), 3)
        (True, 0.597)
    """

    name = "random_patches"

    def __init__(self, ratio: float = 0.6, fixed: bool = False, seed: int = 0):
        ratio, fixed, seed = _check_patch_params(ratio, fixed, seed)
        super().__init__(ratio=ratio, fixed=fixed, seed=seed)
        self.ratio, self.fixed, self.seed = ratio, fixed, seed
        self.random = not fixed

    def _hidden(self, x, generator, index):
        if self.fixed and index is None:
            raise ValueError(
                "index=None is not allowed with fixed=True; allowed: an int64 tensor (B,) of dataset indices"
            )
        return hidden_patches(x, generator, self.ratio, self.fixed, self.seed, index)

    def _fill(self, x):
        return mean_fill(x)

    def _apply(self, x, generator, *, index, foreground):
        weight = self._hidden(x, generator, index)
        return MaskOutput(inputs=composite(x, weight, self._fill(x)), weight=weight, visible=weight == 0)


@register("blurry_patches")
class BlurryPatches(RandomPatches):
    """Random patches filled with a Gaussian blur of the image instead of the mean colour.

    ``sigma`` is the blur's standard deviation in pixels at 96 px and scales with the image
    side (``sigma * sqrt(H*W) / 96``); default 4 px at 96 px (kernel 25 x 25, reflect padding).

    Example:
        >>> import torch; x = torch.rand(1, 3, 96, 96); g = torch.Generator().manual_seed(0)
        >>> out = BlurryPatches(ratio=0.6, sigma=4.0)(x, g)
        >>> bool((out.inputs != x).any()), bool(out.inputs[out.visible.expand_as(x)].eq(x[out.visible.expand_as(x)]).all())
        (True, True)
    """

    name = "blurry_patches"

    def __init__(self, ratio: float = 0.6, sigma: float = 4.0, fixed: bool = False, seed: int = 0):
        super().__init__(ratio=ratio, fixed=fixed, seed=seed)
        self.sigma = check_positive("sigma", sigma)
        self.params = dict(ratio=self.ratio, sigma=self.sigma, fixed=self.fixed, seed=self.seed)

    def _fill(self, x):
        H, W = x.shape[-2:]
        return gaussian_blur(x, scaled_sigma(self.sigma, H, W))
