"""Operator dispatches and host syncs of one pretraining step, and the step's time without the model.

A training step of :func:`focusmim.training.train.pretrain` is: index a batch of the uint8 images, crop
(:func:`focusmim.training.train.augment_batch`), mask, forward, loss, backward, optimiser. On a GPU every
operator outside the model is at least one kernel launch, and a host sync stalls the queue; this
script counts them on any device with a ``TorchDispatchMode`` (no GPU needed), attributing each
operator of one real step to its phase:

- ``model``: the model's forward and the backward pass,
- ``optimizer``: ``optimizer.step()``,
- ``outside``: everything else (batch, crop, mask, loss, bookkeeping).

Host syncs are the operators that read a value back (``_local_scalar_dense``: ``.item()``,
``float(t)``; ``nonzero``), counted outside the optimiser: torch's Adam reads its per-parameter
``step`` counters, which are CPU scalars (no device sync; on CUDA the fused kernel keeps them on the GPU). It also times the whole step with a stand-in model of one 1x1
convolution (so what is left is the step's overhead) and with the paper's autoencoder.

"before" is the optimiser as the stored runs were trained on the CPU (torch's per-parameter loop,
``foreach=False``); "after" is :func:`focusmim.training.objectives.make_optimizer` today (``foreach=True``
on the CPU: the same weights bit for bit, ``tests/test_objectives.py``; one fused kernel on CUDA).

Usage:
    python benchmarks/bench_step_dispatch.py                 # CPU, 32 and 96 px, four maskers, ~1 min
    python benchmarks/bench_step_dispatch.py --quick         # one masker, 32 px, nothing written

Results are printed and written to ``benchmarks/results/step-dispatch-<device>-<date>.json``.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from focusmim.config import make_config  # noqa: E402
from focusmim.training.objectives import Batch, make_optimizer  # noqa: E402
from focusmim.training.train import augment_batch, build_objective, epoch_generator  # noqa: E402

SYNCS = ("_local_scalar_dense", "nonzero", "is_nonzero")
MASKERS = ["random_patches", "masked_periphery", "foveal", "blurry_periphery"]


class PhaseCounter(TorchDispatchMode):
    """Counts dispatched operators per phase (:attr:`phase`, set by :func:`phases`)."""

    def __init__(self):
        super().__init__()
        self.phase = "outside"
        self.counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[self.phase][func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def phases(counter: PhaseCounter, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
    """Attribute the model's forward and every backward pass to 'model', ``optimizer.step`` to 'optimizer'."""

    def within(name, fn):
        def wrapped(*a, **k):
            before, counter.phase = counter.phase, name
            try:
                return fn(*a, **k)
            finally:
                counter.phase = before
        return wrapped

    forward, step, backward = model.forward, optimizer.step, torch.Tensor.backward
    model.forward = within("model", forward)
    optimizer.step = within("optimizer", step)
    torch.Tensor.backward = within("model", backward)
    try:
        yield counter
    finally:
        del model.forward, optimizer.step
        torch.Tensor.backward = backward


class StandIn(torch.nn.Module):
    """A model that costs almost nothing: one 1x1 convolution (its output is the reconstruction)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv(x), x.mean((2, 3))


def make_step(cfg, device: torch.device, *, stand_in: bool, optimizer: str):
    """One step of pretrain's loop as a closure, with the model and its optimiser."""
    model, objective = build_objective(cfg, device)
    if stand_in:
        model = StandIn().to(device)
        objective.model = model
    params = list(model.parameters())
    if optimizer == "before":
        objective.opt = torch.optim.Adam(params, lr=cfg.resolved_lr(), weight_decay=cfg.weight_decay,
                                         foreach=False, fused=device.type == "cuda" or None)
    else:
        objective.opt = make_optimizer(cfg, params)
    n = 4 * cfg.batch_size
    images = torch.randint(0, 256, (n, 3, cfg.image_size, cfg.image_size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0)).to(device)
    index_all = torch.arange(n, device=device)
    g = epoch_generator(0, 0, device)
    perm = torch.randperm(n, generator=g, device=device)
    state = {"s": 0}

    def step():
        s = state["s"] % 4
        state["s"] += 1
        idx = perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]
        raw = images[idx].float().div_(255)
        x, f = augment_batch(cfg, raw, None, g)
        out = objective.step(Batch(images=x, foreground=None, index=index_all[idx], generator=g, raw=raw))
        if device.type == "cpu":
            float(out["loss"])  # pretrain reads the loss back every step on the CPU (every 25th on CUDA)
        return out

    return step, model, objective.opt


def count(cfg, device, optimizer: str) -> dict:
    step, model, opt = make_step(cfg, device, stand_in=False, optimizer=optimizer)
    step()  # optimiser state exists from here on
    with PhaseCounter() as c, phases(c, model, opt):
        step()
    res = {ph: sum(cnt.values()) for ph, cnt in c.counts.items()}
    res["total"] = sum(res.values())
    res["host_syncs"] = {ph: {k: cnt[k] for k in SYNCS if cnt[k]} for ph, cnt in c.counts.items()
                         if any(cnt[k] for k in SYNCS)}
    res["outside_top"] = dict(c.counts["outside"].most_common(12))
    res["parameters"] = len(list(model.parameters()))
    return res


def timed(cfg, device, *, stand_in: bool, optimizer: str, steps: int) -> float:
    """Median seconds of one step (after two warm-up steps)."""
    step, _, _ = make_step(cfg, device, stand_in=stand_in, optimizer=optimizer)
    step(), step()
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 96])
    p.add_argument("--maskers", nargs="+", default=MASKERS)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="timed steps per measurement (median)")
    p.add_argument("--quick", action="store_true", help="32 px, one masker, 3 steps; nothing written")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.quick:
        a.sizes, a.maskers, a.steps = [32], a.maskers[:1], 3
    device = torch.device(a.device)
    result = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "batch_size": a.batch_size, "date": time.strftime("%Y-%m-%d %H:%M"), "rows": []}
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {a.batch_size}")
    print(f"{'px':>3} {'masker':17s} {'optimiser':9s} {'total':>6} {'model':>6} {'optim':>6} {'outside':>7} "
          f"{'syncs':>5} {'stand-in ms':>11} {'model ms':>9}")
    for size in a.sizes:
        for masker in a.maskers:
            cfg = make_config("smoke", image_size=size, width=1.0, masker=masker, batch_size=a.batch_size,
                              device=str(device))
            for optimizer in ("before", "after"):
                c = count(cfg, device, optimizer)
                row = {"image_size": size, "masker": masker, "optimizer": optimizer, "dispatches": c,
                       "stand_in_step_s": timed(cfg, device, stand_in=True, optimizer=optimizer, steps=a.steps),
                       "model_step_s": timed(cfg, device, stand_in=False, optimizer=optimizer, steps=a.steps)}
                result["rows"].append(row)
                syncs = sum(sum(v.values()) for ph, v in c["host_syncs"].items() if ph != "optimizer")
                print(f"{size:3d} {masker:17s} {optimizer:9s} {c['total']:6d} {c.get('model', 0):6d} "
                      f"{c.get('optimizer', 0):6d} {c.get('outside', 0):7d} {syncs:5d} "
                      f"{1e3 * row['stand_in_step_s']:11.2f} {1e3 * row['model_step_s']:9.1f}", flush=True)
    if a.quick and not a.out:
        return result
    out = Path(a.out) if a.out else HERE / "results" / f"step-dispatch-{device.type}-{time.strftime('%Y-%m-%d')}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
