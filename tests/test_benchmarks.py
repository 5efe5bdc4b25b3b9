"""The benchmark scripts' own logic (their numbers are printed, never asserted: benchmarks/README.md)."""
import sys
from pathlib import Path

import torch

from focusmim.config import make_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_step_dispatch as bsd  # noqa: E402


def test_step_dispatches_are_attributed_to_their_phases():
    """One real step: every operator lands in exactly one phase, the model's count does not depend on the
    optimiser, the multi-tensor optimiser dispatches far fewer, and no host sync hides outside the loss read-back."""
    cfg = make_config("smoke", image_size=32, width=0.25, masker="random_patches", batch_size=8)
    before = bsd.count(cfg, torch.device("cpu"), "before")
    after = bsd.count(cfg, torch.device("cpu"), "after")
    for c in (before, after):
        assert c["total"] == c["model"] + c["optimizer"] + c["outside"]
        assert c["outside"] > 0 and "convolution" not in c["outside_top"]  # the model's work is not 'outside'
        # the two read-backs of a CPU step: the loss's emptiness check and pretrain's float(loss)
        assert c["host_syncs"].get("outside") == {"_local_scalar_dense": 2}
        assert "model" not in c["host_syncs"]
    assert before["model"] == after["model"] and before["outside"] == after["outside"]
    assert after["optimizer"] * 3 < before["optimizer"]
