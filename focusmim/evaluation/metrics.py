"""Measurements: statistics of learned representations (decorrelation, sparsity), the
reconstruction error on the foreground, and how much learned masks prefer the object.

Example:
    >>> import torch
    >>> z = torch.randn(256, 64, generator=torch.Generator().manual_seed(0))
    >>> round(decorrelation(z), 2)   # independent units: about (d-1)/(N-1) = 0.25
    0.26
    >>> decorrelation(torch.cat([z, z], 1)) > 1   # each unit has a perfectly correlated twin
    True
"""
from __future__ import annotations

import torch

__all__ = ["decorrelation", "lifetime_sparsity", "population_sparsity", "foreground_error", "object_affinity"]


def _flat(z: torch.Tensor) -> torch.Tensor:
    if z.dim() < 2:
        raise ValueError(f"z has shape {tuple(z.shape)}; allowed: (N, ...) with N samples and at least one unit")
    return z.reshape(z.shape[0], -1).double()


def decorrelation(z: torch.Tensor) -> float:
    """VICReg's covariance term: the sum of squared off-diagonal entries of the
    correlation matrix of the latent units, divided by the number of units d.

    Latents are z-scored across the batch (N samples), C = Z^T Z / (N-1). Units
    that never vary (dead ReLUs) contribute nothing. Computed through the N x N
    Gram matrix (||Z^T Z||_F = ||Z Z^T||_F), so the paper's d = 18,432 needs no
    d x d matrix. The value depends on N (noise alone gives about (d-1)/(N-1)):
    compare values at the same N, and report N beside them.
    """
    x = _flat(z)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"decorrelation needs at least 2 samples; got N={n}")
    x = x - x.mean(0, keepdim=True)
    std = x.std(0, unbiased=True, keepdim=True)
    alive = (std > 1e-12).squeeze(0)
    x = torch.where(alive, x / std.clamp_min(1e-12), torch.zeros_like(x))
    gram = x @ x.T  # N x N
    total = (gram * gram).sum() / (n - 1) ** 2  # sum of all C_ij^2
    diag = (x * x).sum(0) / (n - 1)  # C_ii (1 for live units)
    off = total - (diag * diag).sum()
    return float(off / d)


def _treves_rolls(r: torch.Tensor, dim: int) -> torch.Tensor:
    """Treves-Rolls sparseness, normalised to [0, 1] (1 = one active, 0 = all equal)."""
    n = r.shape[dim]
    m1 = r.mean(dim)
    m2 = (r * r).mean(dim)
    a = torch.where(m2 > 0, m1 * m1 / m2.clamp_min(1e-30), torch.ones_like(m1))
    return (1 - a) / (1 - 1 / n)


def lifetime_sparsity(z: torch.Tensor) -> float:
    """Mean over units of how selectively each unit responds across the N samples
    (non-negative activations, e.g. post-ReLU latents). Silent units are skipped."""
    x = _flat(z).clamp_min(0)
    live = x.sum(0) > 0
    if not live.any():
        return float("nan")
    return float(_treves_rolls(x[:, live], 0).mean())


def population_sparsity(z: torch.Tensor) -> float:
    """Mean over samples of how few units respond to each sample."""
    x = _flat(z).clamp_min(0)
    return float(_treves_rolls(x, 1).mean())


def foreground_error(pred: torch.Tensor, target: torch.Tensor, foreground: torch.Tensor,
                     region: torch.Tensor | None = None, *, per_image: bool = False) -> torch.Tensor:
    """Squared prediction error restricted to the foreground.

    ``sum((pred - target)^2 * w) / (C * sum(w))`` with ``w = foreground * region``
    (soft weights in [0, 1]; uint8 maps are divided by 255), pooled over the batch,
    or one value per image with ``per_image=True`` (NaN for an image with no weight).

    Args:
        pred, target: float (B, C, H, W).
        foreground: (B, 1, H, W), float in [0, 1] or uint8.
        region: optional (B, 1, H, W) bool/float: where to measure (``None``: everywhere).

    Example:
        >>> import torch
        >>> from focusmim.evaluation.metrics import foreground_error
        >>> pred = torch.zeros(2, 3, 2, 2); target = torch.zeros(2, 3, 2, 2); target[1] = 0.5
        >>> fg = torch.ones(2, 1, 2, 2)
        >>> foreground_error(pred, target, fg, per_image=True).tolist()
        [0.0, 0.25]
        >>> float(foreground_error(pred, target, fg))
        0.125
    """
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4:
            raise ValueError(f"{name} must be a float tensor (B, C, H, W); allowed: 4-d tensors")
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} and target {tuple(target.shape)}; "
                         "allowed: equal shapes")
    want = (pred.shape[0], 1, *pred.shape[2:])
    w = as_weight(foreground, "foreground", want)
    if region is not None:
        w = w * as_weight(region, "region", want)
    err = (pred.float() - target.float()).square().sum(1, keepdim=True) * w
    c = pred.shape[1]
    if per_image:
        num, den = err.flatten(1).sum(1), w.flatten(1).sum(1) * c
        return torch.where(den > 0, num / den.clamp_min(1e-12), torch.full_like(num, float("nan")))
    den = w.sum() * c
    if float(den) == 0:
        raise ValueError("foreground * region is zero everywhere; allowed: a weight with some positive pixels")
    return err.sum() / den


def as_weight(t, name: str, shape: tuple) -> torch.Tensor:
    """``t`` as float weights in [0, 1] (uint8 maps divided by 255); ValueError naming ``name``
    unless its shape is ``shape``."""
    if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape:
        got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} has shape {got}; allowed: a tensor of shape {shape}")
    if t.dtype == torch.uint8:
        return t.float() / 255.0
    return t.float()


@torch.no_grad()
def _affinity_of(masks: torch.Tensor, fg: torch.Tensor) -> dict:
    """masks (B,N,H,W) in [0,1], fg (B,1,H,W) in [0,1] -> per-mask coverage, area, affinity."""
    area = masks.mean(dim=(2, 3))  # (B,N)
    cover = (masks * fg).sum(dim=(2, 3)) / fg.sum(dim=(2, 3)).clamp_min(1e-6)  # (B,N)
    a, c = area.mean(0), cover.mean(0)
    aff = c / a.clamp_min(1e-6)
    ks = torch.arange(masks.shape[1], device=masks.device)  # on the masks' device (CUDA in chapter 7)
    share = (cover.argmax(1).unsqueeze(1) == ks).float().mean(0).max()
    return {"area": a.tolist(), "coverage": c.tolist(), "affinity": aff.tolist(),
            "max_affinity": float(aff.max()), "object_mask_share": float(share)}


def object_affinity(masks: torch.Tensor, foreground: torch.Tensor) -> dict:
    """How much of the object each mask covers relative to its area.

    ``coverage[k]`` = mean over images of (object pixels under mask k) / (object pixels),
    ``area[k]`` = mean fraction of the image under mask k, ``affinity[k] = coverage / area``
    (1: the mask ignores the object; > 1: it prefers the object). ``object_mask_share``:
    how often the most frequent "object mask" (the one covering most of the object) wins.

    Example:
        >>> import torch
        >>> from focusmim.evaluation.metrics import object_affinity
        >>> fg = torch.zeros(2, 1, 8, 8); fg[..., :4, :] = 1
        >>> m = torch.stack([fg[:, 0], 1 - fg[:, 0]], 1)
        >>> r = object_affinity(m, fg); r["affinity"], r["max_affinity"]
        ([2.0, 0.0], 2.0)
    """
    if not isinstance(masks, torch.Tensor) or masks.dim() != 4:
        raise ValueError("masks must be a float tensor (B,N,H,W); allowed: a mask network's output")
    if not isinstance(foreground, torch.Tensor) or foreground.shape != (masks.shape[0], 1, *masks.shape[2:]):
        raise ValueError(f"foreground must have shape {(masks.shape[0], 1, *masks.shape[2:])}; allowed: the "
                         f"ground-truth maps of the same images")
    fg = foreground.float() / 255 if foreground.dtype == torch.uint8 else foreground.float()
    return _affinity_of(masks.float(), fg)
