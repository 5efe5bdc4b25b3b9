"""Data-parallel pretraining over the processes ``torchrun`` starts (one run, N processes).

``torchrun --nproc_per_node N -m focusmim run ...`` starts N copies of the command.
:func:`focusmim.training.train.main_process` lets rank 0 execute the command as usual while every other rank
serves it: whenever rank 0's :func:`~focusmim.training.train.pretrain` is about to train a
run, it sends the config to the other ranks (:func:`lead`), and all N processes
train that one run together. Everything else (probing, tables, the run store, the
checkpoints, the progress bar and prints) happens on rank 0 only, so the others
never write anything.

How one global batch is split: every rank draws the whole global batch's
randomness from the same seeded generator (permutation, crops, masks), exactly
as the single-process run does, and then computes the model on its own rows
(:func:`rows`). Each rank's loss is its rows' share of the global batch's loss
(same normaliser), so summing the gradients over ranks (:func:`sum_gradients`,
one ``all_reduce`` per optimiser step) gives the gradient of the single-process
run. The run's key does not depend on N; its metrics record ``world_size`` and
``backend`` (NCCL on GPUs, gloo on CPUs). A run can be resumed with any N: the
checkpoint holds the same weights and optimiser state on every rank.

Without torchrun (no ``WORLD_SIZE`` in the environment, or ``WORLD_SIZE=1``) every
function here is a no-op:

    >>> world_size(), rank(), is_main()
    (1, 0, True)
    >>> rows(32)
    slice(0, 32, None)
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["world_size", "rank", "is_main", "backend", "init", "rows", "device_for", "lead", "broadcast",
           "sum_gradients", "all_sum", "barrier"]


def _env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def world_size() -> int:
    """Number of processes training together (1 without torchrun)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else _env_world()


def rank() -> int:
    """This process's rank (0 without torchrun)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Whether this process writes the store, prints and evaluates (rank 0)."""
    return rank() == 0


def backend() -> str | None:
    """The process group's backend ('nccl' or 'gloo'), or None for a single process."""
    return dist.get_backend() if dist.is_available() and dist.is_initialized() else None


def init() -> None:
    """Join the process group torchrun describes in the environment (``WORLD_SIZE``,
    ``RANK``, ``MASTER_ADDR``...): NCCL when GPUs are visible, gloo otherwise. Does
    nothing for a single process or when already initialised."""
    if _env_world() <= 1 or dist.is_initialized():
        return
    use_nccl = torch.cuda.is_available() and os.environ.get("FOCUSMIM_DIST_BACKEND", "") != "gloo"
    if use_nccl:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if use_nccl else "gloo")


def device_for(device: torch.device) -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` for a CUDA run under torchrun, else ``device``."""
    if device.type == "cuda" and world_size() > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def rows(batch: int) -> slice:
    """This rank's rows of a global batch of ``batch`` images (contiguous, sizes differ by
    at most one; a rank may get none when ``batch < world_size``)."""
    n, r = world_size(), rank()
    return slice(r * batch // n, (r + 1) * batch // n)


def barrier() -> None:
    if world_size() > 1 and dist.is_initialized():
        dist.barrier()


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """``t`` summed over ranks, in place (``t`` itself for a single process)."""
    if world_size() > 1 and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def sum_gradients(params) -> None:
    """Sum the gradients of ``params`` over ranks in one ``all_reduce`` (a parameter
    without a gradient on this rank counts as zero). Each rank's loss is its share of
    the global batch's loss, so the sum is the global batch's gradient."""
    if world_size() <= 1:
        return
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    i = 0
    for p in params:
        k = p.grad.numel()
        p.grad.copy_(flat[i:i + k].view(p.grad.shape))  # copy_ keeps the gradient's memory layout
        i += k


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (any picklable object)."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def lead(message: Any) -> None:
    """Rank 0: tell the other ranks what to train next (a ``(config dict, store root)``
    pair), or ``None`` when the command is done."""
    if world_size() > 1 and is_main():
        broadcast(message)
