"""u2netp foreground maps: images/s of the onnxruntime path versus the torch path, and their difference.

The images: ``--n`` photographs of ``imagenette96`` (96 px, evenly spread over the sorted test
files). Both paths run the whole predictor (Lanczos resize to 320 px, normalisation, the network,
min-max rescaling, Lanczos back to 96 px):

* onnxruntime: :class:`focusmim.data.foreground.U2netpPredictor` on rembg's session, the batched graph,
  ``--infer-batch`` images per call (default 8, the CPU default), ``--workers`` intra-op threads;
* torch: :class:`focusmim.data.foreground.u2netp.TorchU2netp` on ``--device`` (default CUDA when
  available, else the CPU), ``--infer-batch`` images per forward pass.

On a shared machine the paths are timed interleaved, chunk by chunk (``--chunk`` images) in
alternating order, so other jobs slow them alike. The torch maps are compared with onnxruntime's
(largest difference in uint8 levels, fraction of pixels within one level).
:func:`focusmim.data.foreground.maps.backend_for` uses the result: torch on CUDA, and on a CPU the
faster path measured here (``CPU_BACKEND`` in focusmim/data/foreground/maps.py).

Usage:
    python benchmarks/bench_u2netp.py [--n 200] [--chunk 40] [--device cpu|cuda] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_foreground import photos  # noqa: E402

from focusmim.data.base import default_data_root  # noqa: E402
from focusmim.data.foreground import U2netpPredictor, session, weights_path  # noqa: E402
from focusmim.data.foreground.maps import CPU_BACKEND  # noqa: E402
from focusmim.data.foreground.u2netp import TorchU2netp  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--chunk", type=int, default=40)
    ap.add_argument("--infer-batch", type=int, default=8)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--device", default=None, help="the torch path's device (default cuda if available, else cpu)")
    ap.add_argument("--root", default=None, help="the imagenette96 folder (default ../shared/data/imagenette96)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    root = Path(args.root or default_data_root("imagenette96") or "../shared/data/imagenette96")
    images = photos(root, args.n)
    sess = session(args.workers)
    paths = {"onnxruntime": U2netpPredictor(sess, infer_batch=args.infer_batch, workers=args.workers),
             "torch": TorchU2netp(weights_path(), device=args.device, infer_batch=args.infer_batch)}
    if paths["onnxruntime"].batched is None:
        raise SystemExit("onnxruntime: the graph could not be batched (see the warning above)")
    device = paths["torch"].device
    for p in paths.values():
        p(images[:args.infer_batch])  # warm-up: onnxruntime's arena, cuDNN's algorithm choice
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    seconds = {name: 0.0 for name in paths}
    maps = {name: [] for name in paths}
    for i, s in enumerate(range(0, len(images), args.chunk)):
        chunk = images[s:s + args.chunk]
        for name in (list(paths) if i % 2 == 0 else list(reversed(paths))):
            sync()
            t0 = time.perf_counter()
            maps[name].append(paths[name](chunk))  # returns CPU tensors: the copy back is timed
            sync()
            seconds[name] += time.perf_counter() - t0
    ref, ours = torch.cat(maps["onnxruntime"]).int(), torch.cat(maps["torch"]).int()
    diff = (ours - ref).abs()
    rows = []
    for name in paths:
        ips = len(images) / seconds[name]
        rows.append({"path": name, "backend": paths[name].backend, "infer_batch": paths[name].infer_batch,
                     "images": len(images), "seconds": round(seconds[name], 2), "images_per_s": round(ips, 2)})
        print(f"{name:12s} {ips:7.2f} images/s ({seconds[name]:.1f} s for {len(images)})", flush=True)
    ratio = rows[1]["images_per_s"] / rows[0]["images_per_s"]
    agreement = {"max_abs_diff_levels": int(diff.max()),
                 "fraction_within_one_level": round(float((diff <= 1).float().mean()), 6),
                 "fraction_equal": round(float((diff == 0).float().mean()), 6)}
    print(f"torch / onnxruntime: {ratio:.2f}x; maps: max |diff| {agreement['max_abs_diff_levels']} levels, "
          f"{100 * agreement['fraction_within_one_level']:.3f} % within one level", flush=True)
    providers = sess.inner_session.get_providers()
    result = {"what": "u2netp foreground maps of imagenette96 test photographs at 96 px: onnxruntime "
                      "(U2netpPredictor, batched graph) versus torch (TorchU2netp)",
              "rows": rows, "torch_over_onnxruntime": round(ratio, 2), "agreement": agreement,
              "torch_device": str(device), "onnxruntime_providers": providers,
              "cpu_backend_in_maps_py": CPU_BACKEND,
              "workers": args.workers or len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
              "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
              "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
              "versions": {"torch": torch.__version__, "onnxruntime": __import__("onnxruntime").__version__},
              "load_average_after": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M")}
    out = Path(args.out) if args.out else (Path(__file__).resolve().parent / "results" /
                                           f"u2netp-{device.type}-{time.strftime('%Y-%m-%d')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
