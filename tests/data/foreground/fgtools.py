"""Shared helpers of the tests of focusmim.data.foreground (a stand-in predictor and synthetic maps)."""
from __future__ import annotations

from pathlib import Path

import torch

SHARED_MODELS = Path(__file__).resolve().parents[3].parent / "shared" / "models"


class CountingPredict:
    """Stand-in predictor: the red channel as the map; counts calls and images."""

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.rows: list[tuple[int, int]] = []
        self.fail_after = fail_after

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        self.rows.append(tuple(x.shape))
        return x[:, :1].clone()


def maps_with_counts(counts, size=96, value=204):
    """uint8 (N,1,size,size) maps where image i has counts[i] pixels at `value`, rest 0."""
    fg = torch.zeros(len(counts), 1, size, size, dtype=torch.uint8)
    flat = fg.view(len(counts), -1)
    ar = torch.arange(size * size)
    flat[ar[None, :] < torch.tensor(counts)[:, None]] = value
    return fg


def random_images(n, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, h, w), generator=g, dtype=torch.uint8)
