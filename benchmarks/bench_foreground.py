"""Foreground maps (rembg's u2netp): images/s image by image versus batched, and their difference.

The images: ``--n`` photographs of ``imagenette96`` (96 px, evenly spread over the sorted
test files). Both paths run the whole predictor (:class:`focusmim.data.foreground.U2netpPredictor`:
Lanczos resize to 320 px, normalisation, the network, min-max rescaling, Lanczos back to 96 px):

* per image: ``infer_batch=1``, rembg's own session, one image per onnxruntime call (as before
  issue 29);
* batched: ``infer_batch=k`` for each ``--batches`` k, the graph with a free batch dimension
  (:func:`focusmim.data.foreground.batched_model`).

Each path gets the same onnxruntime threads (``--workers``, default every core). On a shared
machine the paths are timed interleaved, chunk by chunk (``--chunk`` images) in alternating
order, so other jobs slow them alike. The maps of every batched path are compared with the
per-image ones (max absolute difference on the [0, 1] scale).

Usage:
    python benchmarks/bench_foreground.py [--n 200] [--batches 8 32] [--chunk 40] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from focusmim.data.base import default_data_root  # noqa: E402
from focusmim.data.foreground import U2netpPredictor, session  # noqa: E402

TARGET = 2.0  # issue 29: batched at least 2x the per-image path


def photos(root: Path, n: int) -> torch.Tensor:
    from PIL import Image

    files = sorted(root.glob("test/*/*.jpg"))
    step = max(1, len(files) // n)
    picked = files[::step][:n]
    return torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("RGB").resize((96, 96))) for f in picked])
                            ).permute(0, 3, 1, 2).contiguous()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--batches", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--chunk", type=int, default=40)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--root", default=None, help="the imagenette96 folder (default ../shared/data/imagenette96)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    root = Path(args.root or default_data_root("imagenette96") or "../shared/data/imagenette96")
    images = photos(root, args.n)
    sess = session(args.workers)
    paths = {"per image": U2netpPredictor(sess, infer_batch=1, workers=args.workers)}
    for k in args.batches:
        paths[f"batched {k}"] = U2netpPredictor(sess, infer_batch=k, workers=args.workers)
    for name, p in paths.items():
        if name != "per image" and p.batched is None:
            raise SystemExit(f"{name}: the graph could not be batched (see the warning above)")
        p(images[:p.infer_batch])  # warm-up: onnxruntime's memory arena grows to a full call's size once

    seconds = {name: 0.0 for name in paths}
    maps = {name: [] for name in paths}
    for i, s in enumerate(range(0, len(images), args.chunk)):
        chunk = images[s:s + args.chunk]
        order = list(paths) if i % 2 == 0 else list(reversed(paths))
        for name in order:
            t0 = time.perf_counter()
            maps[name].append(paths[name](chunk))
            seconds[name] += time.perf_counter() - t0
    ref = torch.cat(maps["per image"]).float() / 255
    rows = []
    for name in paths:
        out = torch.cat(maps[name]).float() / 255
        ips = len(images) / seconds[name]
        row = {"path": name, "infer_batch": paths[name].infer_batch, "images": len(images),
               "seconds": round(seconds[name], 2), "images_per_s": round(ips, 2),
               "speedup": round(ips / (len(images) / seconds["per image"]), 2),
               "max_abs_diff": float((out - ref).abs().max())}
        rows.append(row)
        print(f"{name:10s} {ips:6.2f} images/s ({row['speedup']:.2f}x), max |map - per image| {row['max_abs_diff']:.2g}",
              flush=True)
    providers = sess.inner_session.get_providers()
    result = {"what": "u2netp foreground maps of imagenette96 test photographs at 96 px (U2netpPredictor)",
              "target_speedup": TARGET, "rows": rows, "workers": args.workers or len(os.sched_getaffinity(0)),
              "providers": providers, "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
              "load_average_after": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M")}
    kind = "cuda" if "CUDAExecutionProvider" in providers else "cpu"
    out = Path(args.out) if args.out else (Path(__file__).resolve().parent / "results" /
                                           f"foreground-{kind}-{time.strftime('%Y-%m-%d')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
