"""Share of a training step spent masking, per strategy and image size.

For each masker: the time of ``masker(x, g, index=...)`` on one training batch and
the time of one whole ``mim`` training step (which includes that masking, the
forward and backward pass and the Adam update), both as the median of interleaved
repetitions, so load on a shared machine affects both alike. The share is
masking / step. The model, batch size and precision are the preset's
(``make_config(preset)``, fp32 on the CPU unless ``--cpu-amp``).

Usage:
    python benchmarks/bench_masking_share.py --sizes 32 96 [--cpu-amp] [--reps 7] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from focusmim import masking  # noqa: E402
from focusmim.config import make_config, resolve_device  # noqa: E402
from focusmim.training.objectives import Batch, uses_bf16  # noqa: E402
from focusmim.training.train import build_objective  # noqa: E402

STRATEGIES = ["random_patches", "blurry_patches", "masked_periphery", "blurry_periphery", "central",
              "covert_attention", "foveal", "none"]


def measure(size: int, strategy: str, args) -> dict:
    dev = torch.device(resolve_device(args.device))
    cfg = make_config(args.preset, image_size=size, masker=strategy, device=str(dev),
                      cpu_amp=True if args.cpu_amp else None, batch_size=args.batch)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    _, objective = build_objective(cfg, dev)
    masker = masking.build(cfg.masker, **cfg.masker_kwargs())
    b = cfg.batch_size
    x = torch.rand(b, 3, size, size, device=dev)
    idx = torch.arange(b, device=dev)
    g = torch.Generator(device=dev).manual_seed(0)

    def mask():
        masker(x, g, index=idx)
        sync()

    def step():
        objective.step(Batch(images=x, foreground=None, index=idx, generator=g, raw=x))
        sync()

    for fn in (mask, step):  # warm-up (caches, allocator)
        fn()
    t_mask, t_step = [], []
    for _ in range(args.reps):
        for fn, out in ((mask, t_mask), (step, t_step)):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    m, s = statistics.median(t_mask), statistics.median(t_step)
    return {"size": size, "strategy": strategy, "batch": b, "mask_ms": 1e3 * m, "step_ms": 1e3 * s,
            "share": m / s, "precision": "bf16" if uses_bf16(dev, cfg) else "fp32"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 96])
    ap.add_argument("--strategies", nargs="+", default=STRATEGIES)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--batch", type=int, default=None, help="default: the preset's batch size")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--cpu-amp", action="store_true")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", default=None, help="JSON file to write (default: print only)")
    args = ap.parse_args()
    rows = []
    print(f"{'size':>4s} {'strategy':18s} {'mask ms':>8s} {'step ms':>8s} {'share':>7s}")
    for size in args.sizes:
        for strategy in args.strategies:
            r = measure(size, strategy, args)
            rows.append(r)
            print(f"{size:4d} {strategy:18s} {r['mask_ms']:8.2f} {r['step_ms']:8.1f} {100 * r['share']:6.2f}%",
                  flush=True)
    dev = resolve_device(args.device)
    meta = {"device": dev, "device_name": torch.cuda.get_device_name() if dev == "cuda" else
            f"CPU {platform.processor() or platform.machine()}", "threads": torch.get_num_threads(),
            "preset": args.preset, "cpu_amp": bool(args.cpu_amp), "reps": args.reps, "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M"), "load_average": list(getattr(__import__("os"), "getloadavg")())}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
