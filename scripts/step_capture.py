"""The step-capture check of a GPU lease: is ``Config.compile_mode="reduce-overhead"`` (the compiled model's
forward and backward replayed as CUDA graphs) faster than the default compiled step, and does it train the same?

For each image size (32 and 96 px) and each mode ('default', 'reduce-overhead') it runs the loop of
:func:`focusmim.training.train.pretrain` (the ``mim`` objective, random patches, batch 512, bf16, channels-last,
``torch.compile``; the same code as ``benchmarks/bench_pretrain.py --compile-mode``) on a fixed pool of
synthetic images from one seed: the loss after ``loss_steps`` steps (read back step by step: both modes see
the same batches, masks and initial weights), then ``steps`` timed steps after ``warmup`` untimed ones. The
result says which mode is faster at each size, whether the losses agree within bf16 noise
(:data:`LOSS_RTOL`), and ``use``: the mode the rest of the lease trains with ('reduce-overhead' only where it
is faster at 96 px, the lease's size, and its loss agrees; else 'default'). ``compile_mode`` is not part of
a run's key, so the choice never changes which runs the book gets.

    python scripts/step_capture.py --out /tmp/capture.json          # on a GPU, about 2 minutes
    python scripts/step_capture.py --out /tmp/c.json --device cpu --steps 2 --warmup 1 --loss-steps 2 --sizes 32 \
        --batch-size 8 --no-compile                                  # the plumbing, on a CPU (tests)
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from focusmim import data  # noqa: E402
from focusmim.config import make_config  # noqa: E402
from focusmim.training.objectives import Batch  # noqa: E402
from focusmim.training.train import augment_batch, build_objective, captures_graphs, epoch_generator  # noqa: E402

MODES = ("default", "reduce-overhead")
LOSS_RTOL = 0.03  # bf16 autocast: two compiled graphs of the same step round differently; 20 Adam steps stay this close


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_mode(size: int, mode: str, *, device: torch.device, steps: int, warmup: int, loss_steps: int,
              batch_size: int, compile: bool, amp: bool, pool_n: int = 2048) -> dict:
    """The loss after ``loss_steps`` steps and the time of ``steps`` steps (after ``warmup``) in one mode."""
    cfg = make_config("gpu", dataset="synthetic", image_size=size, batch_size=batch_size, amp=amp,
                      compile=compile, compile_mode=mode if compile else "default", masker="random_patches",
                      seed=0, device=device.type)
    pool = data.load("synthetic", "unlabeled", image_size=size, n=pool_n, seed=0).images.to(device)
    torch.manual_seed(0)
    model, objective = build_objective(cfg, device)
    for m in objective.modules().values():
        m.train()
    g = epoch_generator(cfg.seed, 0, device)
    graphs = captures_graphs(device, cfg)
    n_total = loss_steps + warmup + steps
    losses = []
    t_compile = time.perf_counter()
    t0 = None
    for s in range(n_total):
        if s == loss_steps + warmup:
            _sync(device)
            t0 = time.perf_counter()
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        idx = torch.randint(0, len(pool), (batch_size,), generator=g, device=device)
        raw = pool[idx].float().div_(255)
        x, _ = augment_batch(cfg, raw, None, g)
        out = objective.step(Batch(images=x, foreground=None, index=idx, generator=g, raw=raw, raw_foreground=None))
        if s < loss_steps:
            losses.append(float(out["loss"]))
            if s == 0:
                first_step_s = time.perf_counter() - t_compile
    _sync(device)
    dt = time.perf_counter() - (t0 if t0 is not None else time.perf_counter())
    if not all(math.isfinite(v) for v in losses):
        raise FloatingPointError(f"{mode} at {size} px: a loss became {losses}")
    return {"size": size, "mode": mode, "steps": steps, "batch_size": batch_size,
            "seconds_per_step": dt / max(steps, 1), "images_per_s": steps * batch_size / dt if dt > 0 else None,
            "first_step_s": first_step_s, f"loss_after_{loss_steps}": losses[-1], "losses": losses,
            "captures_graphs": bool(graphs)}


def capture_check(*, device: str | None = None, sizes=(32, 96), steps: int = 300, warmup: int = 20,
                  loss_steps: int = 20, batch_size: int = 512, compile: bool = True, modes=MODES) -> dict:
    """Both modes at every size; ``use``: the mode for the rest of the lease (see the module docstring)."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    amp = dev.type == "cuda"
    t0 = time.perf_counter()
    rows = [time_mode(s, m, device=dev, steps=steps, warmup=warmup, loss_steps=loss_steps, batch_size=batch_size,
                      compile=compile, amp=amp) for s in sizes for m in modes]
    by = {(r["size"], r["mode"]): r for r in rows}
    verdict = {}
    for s in sizes:
        if not all((s, m) in by for m in MODES):
            continue
        d, ro = by[(s, "default")], by[(s, "reduce-overhead")]
        la, lb = d[f"loss_after_{loss_steps}"], ro[f"loss_after_{loss_steps}"]
        rel = abs(la - lb) / max(abs(la), 1e-12)
        verdict[str(s)] = {"speedup": d["seconds_per_step"] / ro["seconds_per_step"] if ro["seconds_per_step"] else None,
                           "loss_default": la, "loss_reduce_overhead": lb, "loss_rel_diff": rel,
                           "losses_agree": rel <= LOSS_RTOL}
    v96 = verdict.get(str(max(sizes)))
    use = "reduce-overhead" if (dev.type == "cuda" and compile and v96 and v96["losses_agree"]
                                and (v96["speedup"] or 0) > 1.0) else "default"
    return {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
            "compile": compile, "amp": amp, "loss_steps": loss_steps, "loss_rtol": LOSS_RTOL, "rows": rows,
            "verdict": verdict, "use": use, "seconds": time.perf_counter() - t0,
            "date": time.strftime("%Y-%m-%d %H:%M")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--device", default=None)
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 96])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--loss-steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--no-compile", action="store_true")
    a = p.parse_args(argv)
    res = capture_check(device=a.device, sizes=tuple(a.sizes), steps=a.steps, warmup=a.warmup,
                        loss_steps=a.loss_steps, batch_size=a.batch_size, compile=not a.no_compile)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(json.dumps({k: res[k] for k in ("device", "verdict", "use", "seconds")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
