"""Masks per second: batched focusmim maskers vs a per-sample loop written the reference's way.

The per-sample baselines build one mask per image with numpy / scipy / PIL, as the public
reference code does in its DataLoader workers: a Python loop over patches, a numpy disc per
image, a scipy Gaussian blur per image, and a per-image Perry-Geisler foveation whose
pyramid, eccentricity map and blend weights are recomputed for every image. They run on a
few samples and are scaled to per-mask rates.

Usage:
    python benchmarks/bench_masking.py [--batch 512] [--size 96] [--threads 1] [--device cpu]

``--threads 1`` (default) compares one core with one core (the baselines are single-threaded).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from focusmim import masking  # noqa: E402


# ------------------------------------------------------------ per-sample baselines
def ref_random_patches(img: np.ndarray, rng: random.Random, ratio=0.6, patch=8):
    c, h, w = img.shape
    out, mask = img.copy(), np.zeros((h, w), np.float32)
    mean = img.mean(axis=(1, 2))
    cells = [(r, q) for r in range(h // patch) for q in range(w // patch)]
    for r, q in rng.sample(cells, int(len(cells) * ratio)):
        for ch in range(c):
            out[ch, r * patch : (r + 1) * patch, q * patch : (q + 1) * patch] = mean[ch]
        mask[r * patch : (r + 1) * patch, q * patch : (q + 1) * patch] = 1
    return out, mask


def ref_periphery(img: np.ndarray, ratio=0.8, fill=None):
    c, h, w = img.shape
    radius = int(math.sqrt(h * w * (1 - ratio) / math.pi))
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    visible = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= radius**2
    if fill is None:
        fill = img.mean(axis=(1, 2), keepdims=True)
    return np.where(visible[None], img, fill), (~visible).astype(np.float32)


def ref_blurry_periphery(img: np.ndarray, ratio=0.8, sigma=4.0):
    blurred = np.stack([ndimage.gaussian_filter(ch, sigma, mode="mirror", truncate=3.0) for ch in img])
    return ref_periphery(img, ratio, fill=blurred)


def _gauss5(sigma):
    t = np.arange(-2, 3)
    k = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2 * sigma**2))
    return k / k.sum()


def ref_foveal(img: np.ndarray, sigma=0.248, levels=6, p=3.5, alpha=2.5):
    """Per-image Perry-Geisler foveation, pyramid via scipy + PIL, weights rebuilt every call."""
    c, h, w = img.shape
    k5 = _gauss5(sigma)
    pyr, cur = [img], img
    for _ in range(1, levels):
        cur = np.stack([ndimage.convolve(ch, k5, mode="nearest") for ch in cur])
        ch_, cw_ = max(cur.shape[1] // 2, 1), max(cur.shape[2] // 2, 1)
        cur = np.stack([np.asarray(Image.fromarray(ch).resize((cw_, ch_), Image.BILINEAR)) for ch in cur])
        pyr.append(cur)
    ups = [img] + [np.stack([np.asarray(Image.fromarray(ch).resize((w, h), Image.BILINEAR)) for ch in lv]) for lv in pyr[1:]]
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    R = alpha / (np.sqrt((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / p + alpha)
    b = [2.0 ** -(k + 1) for k in range(levels)]
    M = np.zeros((levels, h, w), np.float32)
    M[0][R >= b[0]] = 1
    for k in range(1, levels):
        band = (R >= b[k]) & (R < b[k - 1])
        tp, tt = 2.0 ** (-((R / b[k - 1]) ** 2)), 2.0 ** (-((R / b[k]) ** 2))
        B = np.clip((0.5 - tt) / np.maximum(tp - tt, 1e-12), 0, 1)
        M[k - 1][band] += B[band]
        M[k][band] += 1 - B[band]
    M[levels - 1][R < b[levels - 1]] += 1
    out = np.zeros_like(img)
    for k in range(levels):
        out += M[k][None] * ups[k]
    return np.clip(out, 0, 1), (R < 0.5).astype(np.float32)


BASELINES = {
    "random_patches": lambda im, rng: ref_random_patches(im, rng),
    "masked_periphery": lambda im, rng: ref_periphery(im),
    "blurry_periphery": lambda im, rng: ref_blurry_periphery(im),
    "foveal": lambda im, rng: ref_foveal(im),
}
STRATEGIES = [
    ("none", {}),
    ("random_patches", {}),
    ("random_patches", {"fixed": True}),
    ("blurry_patches", {}),
    ("masked_periphery", {}),
    ("blurry_periphery", {}),
    ("central", {}),
    ("covert_attention", {"placement": "random"}),
    ("foveal", {}),
]
BASELINE_OF = {"random_patches": "random_patches", "masked_periphery": "masked_periphery",
               "blurry_periphery": "blurry_periphery", "foveal": "foveal"}


def timed(fn, reps):
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--slow-n", type=int, default=48, help="samples for the per-sample loops")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/masking-<device>-<date>.json)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    x = torch.rand(args.batch, 3, args.size, args.size, device=dev)
    g = torch.Generator(device=dev).manual_seed(0)
    idx = torch.arange(args.batch, device=dev)

    imgs = [np.random.default_rng(i).random((3, args.size, args.size), dtype=np.float32) for i in range(args.slow_n)]
    base_rate = {}
    for name, fn in BASELINES.items():
        rng = random.Random(0)
        t = timed(lambda: [fn(im, rng) for im in imgs], 1)
        base_rate[name] = args.slow_n / t

    floor = timed(lambda: (x.clone(), sync()), args.reps)
    print(f"device={dev} threads={torch.get_num_threads()} batch={args.batch} size={args.size}px "
          f"(baselines: {args.slow_n} samples, one core, numpy/scipy/PIL)")
    print(f"memory floor (one clone of the batch): {args.batch / floor:,.0f} images/s")
    print(f"{'strategy':34s} {'batched masks/s':>16s} {'per-sample masks/s':>19s} {'speed-up':>9s}")
    rows = []
    for name, kw in STRATEGIES:
        m = masking.build(name, **kw)
        t = timed(lambda: (m(x, g, index=idx), sync()), args.reps)
        rate = args.batch / t
        label = name + ("".join(f" {k}={v}" for k, v in kw.items()))
        ref = base_rate.get(BASELINE_OF.get(name, ""), None)
        if ref is None or kw.get("fixed"):
            print(f"{label:34s} {rate:16,.0f} {'':>19s} {'':>9s}")
            ref = None
        else:
            print(f"{label:34s} {rate:16,.0f} {ref:19,.0f} {rate / ref:8.1f}x")
        rows.append({"strategy": label, "batched_per_s": rate, "per_sample_per_s": ref,
                     "speedup": None if ref is None else rate / ref})
    out = Path(args.out) if args.out else (Path(__file__).resolve().parent / "results" /
                                           f"masking-{dev.type}-{time.strftime('%Y-%m-%d')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": str(dev), "threads": torch.get_num_threads(), "batch": args.batch,
                               "size": args.size, "date": time.strftime("%Y-%m-%d %H:%M"),
                               "torch": torch.__version__, "memory_floor_per_s": args.batch / floor,
                               "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
