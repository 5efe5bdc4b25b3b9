"""Losses: masked reconstruction, SimCLR's NT-Xent and the ADIOS sparsity barrier.

Example:
    >>> import torch
    >>> from focusmim.training.losses import masked_mse, nt_xent, adios_sparsity
    >>> x = torch.zeros(2, 3, 4, 4); y = torch.ones(2, 3, 4, 4)
    >>> w = torch.zeros(2, 1, 4, 4); w[..., :2] = 1
    >>> float(masked_mse(x, y, w))
    1.0
    >>> round(float(adios_sparsity(torch.full((1, 2, 4, 4), 0.5))), 6)
    1.0
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["masked_mse", "nt_xent", "adios_sparsity"]


def masked_mse(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None, *, strict: bool = True
) -> torch.Tensor:
    """Weighted mean squared error pooled over batch, channels and pixels.

    ``sum((pred - target)**2 * w) / (C * sum(w))`` where ``w`` (shape
    ``(B, 1, H, W)`` or ``(B, C, H, W)``) is broadcast over the channels; with
    a one-channel ``w`` the denominator counts each weighted pixel once per
    channel, so ``w = 1`` gives exactly the plain MSE. ``weight=None`` means
    ``w = 1``. The arithmetic runs in float32 even under bf16 autocast.

    Empty weight: if ``sum(w) == 0`` for the whole batch the ratio is
    undefined. With ``strict=True`` (default) this raises ``ValueError``
    rather than silently returning 0 or NaN (a batch without a loss region is
    a bug in the masker or the foreground maps); the check reads one number
    back from the device. ``strict=False`` skips the check (no sync, no graph
    break under ``torch.compile``) and clamps the denominator at ``1e-8``, so
    an empty weight gives a loss of exactly 0 with zero gradients.

    Example:
        >>> import torch
        >>> p, t = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
        >>> w = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
        >>> float(masked_mse(p, t, w)), float(masked_mse(p, t))
        (1.0, 1.0)
    """
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError("pred and target must be tensors; allowed: float tensors (B, C, H, W)")
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(
            f"pred has shape {tuple(pred.shape)} and target {tuple(target.shape)}; "
            f"allowed: equal shapes (B, C, H, W)"
        )
    diff = (pred.float() - target.float()).square()
    c = pred.shape[1]
    if weight is None:
        return diff.mean()
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        raise ValueError(f"weight must be a tensor (B, 1, H, W) or (B, C, H, W); got {_shape(weight)}")
    b, _, h, w_ = pred.shape
    if weight.shape[0] != b or weight.shape[2:] != (h, w_) or weight.shape[1] not in (1, c):
        raise ValueError(
            f"weight has shape {tuple(weight.shape)}; allowed: ({b}, 1, {h}, {w_}) or ({b}, {c}, {h}, {w_})"
        )
    w = weight.float()
    total = w.sum() * (c if w.shape[1] == 1 else 1)
    if not strict:
        return (diff * w).sum() / total.clamp_min(1e-8)
    if float(total) <= 0:
        raise ValueError(
            "weight sums to zero over the batch (no pixel enters the loss); allowed: a weight with "
            "a positive sum, or weight=None for the plain MSE"
        )
    return (diff * w).sum() / total


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's normalised-temperature cross-entropy, both directions, whole batch at once.

    Row ``i`` of ``z1`` and of ``z2`` are the positive pair; the other ``2B - 2``
    embeddings in the batch are negatives. Inputs of any shape ``(B, ...)`` are
    flattened per sample and L2-normalised. Returns the mean over all ``2B``
    anchors.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> z = torch.randn(8, 16, generator=g)
        >>> bool(nt_xent(z, z) < nt_xent(z, z.roll(1, 0)))
        True
    """
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or temperature <= 0:
        raise ValueError(f"temperature={temperature!r} is not allowed; allowed: a positive number")
    _pair_check(z1, z2)
    if z1.shape[0] < 2:
        raise ValueError(f"z1 has batch size {z1.shape[0]}; allowed: at least 2 (negatives come from the batch)")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1.flatten(1), z2.flatten(1)]).float(), dim=1)
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    idx = torch.arange(b, device=z.device)
    positives = torch.cat([idx + b, idx])
    return F.cross_entropy(sim, positives)


def adios_sparsity(masks: torch.Tensor, alpha: float = 1.0, eps: float = 1e-10) -> torch.Tensor:
    """ADIOS barrier keeping every mask between empty and full.

    ``s[b, k]`` = mean of mask ``k`` over the pixels of image ``b``; the penalty is
    ``alpha * mean_b mean_k 1 / (sin(pi * s[b, k]) + eps)``. It is ``alpha`` when
    every mask covers half of the image and grows without bound as any mask
    approaches 0 or full coverage. The mask network maximises the
    encoder's loss minus this penalty, so its optimiser minimises
    ``-encoder_loss + adios_sparsity(masks)``.

    Args:
        masks: float ``(B, N, H, W)`` in ``[0, 1]`` (a single mask ``(B, H, W)``
            is treated as ``N = 1``).
        alpha: weight of the penalty, >= 0.
        eps: keeps the barrier finite at exactly 0 or 1 coverage.

    Example:
        >>> import torch
        >>> m = torch.zeros(1, 2, 4, 4); m[:, 0, :2] = 1; m[:, 1, 2:] = 1
        >>> round(float(adios_sparsity(m, alpha=2.0)), 4)
        2.0
    """
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha < 0:
        raise ValueError(f"alpha={alpha!r} is not allowed; allowed: a number >= 0")
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or eps <= 0:
        raise ValueError(f"eps={eps!r} is not allowed; allowed: a positive number")
    if not isinstance(masks, torch.Tensor) or masks.dim() not in (3, 4):
        raise ValueError(f"masks has shape {_shape(masks)}; allowed: a float tensor (B, N, H, W) or (B, H, W)")
    if masks.dim() == 3:
        masks = masks.unsqueeze(1)
    s = masks.float().mean(dim=(2, 3))  # (B, N)
    return alpha * (1.0 / (torch.sin(math.pi * s) + eps)).mean()


def _pair_check(a, b) -> None:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise ValueError("embeddings must be tensors; allowed: float tensors (B, ...) of equal shape")
    if a.shape != b.shape or a.dim() < 2:
        raise ValueError(
            f"embeddings have shapes {tuple(a.shape)} and {tuple(b.shape)}; allowed: equal shapes (B, D, ...)"
        )


def _shape(x) -> object:
    return tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
