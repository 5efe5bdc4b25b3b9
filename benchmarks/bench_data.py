"""Timing of the data layer: synthetic rendering and batched random resized crops.

    python benchmarks/bench_data.py            # CPU (and CUDA when visible)
    python benchmarks/bench_data.py --n 10000  # the full default unlabeled split at 96 px
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from focusmim.training.augment import random_resized_crop
from focusmim.data.synthetic import generate


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="images to render per size")
    args = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, devices {devices}")
    for device in devices:
        for size in (32, 96):
            generate(8, size, 0, "train", device=device)  # warm-up
            t = time.perf_counter()
            generate(args.n, size, 0, "train", device=device)
            dt = time.perf_counter() - t
            print(f"synthetic {device:4s} {size:3d}px: {args.n} images in {dt:6.2f} s ({args.n / dt:8.0f} img/s)")
        for size, batch in ((32, 512), (96, 512)):
            x = torch.rand(batch, 4, size, size, device=device)
            g = torch.Generator(device=device).manual_seed(0)
            random_resized_crop(x, g)
            _sync(device)
            reps = 5
            t = time.perf_counter()
            for _ in range(reps):
                random_resized_crop(x, g, flip=True)
            _sync(device)
            dt = (time.perf_counter() - t) / reps
            print(f"crop      {device:4s} {size:3d}px: batch {batch} x 4 channels in {dt * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
