"""Statistics of learned representations: decorrelation, sparsity, reconstruction error.

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

__all__ = ["decorrelation", "lifetime_sparsity", "population_sparsity"]


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
