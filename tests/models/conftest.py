"""Shared fixtures and helpers of the tests of focusmim.models."""
from __future__ import annotations

import pytest
import torch

from focusmim.models import build


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def ae():
    torch.manual_seed(0)  # default PyTorch init draws from the global RNG; fixed for reproducible tests
    return build("autoencoder").eval()
