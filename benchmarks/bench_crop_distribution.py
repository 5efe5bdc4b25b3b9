"""How far focusmim's random-resized crops are from torchvision's: crop areas and aspect ratios.

``focusmim.training.augment.sample_crop_boxes`` draws an area fraction uniform in ``scale`` and an
aspect ratio ``w/h`` log-uniform in ``ratio``, as torchvision does, but a box that does not
fit in the image is clamped to it (``w`` or ``h`` cut to the image's side) instead of being
drawn again. Clamping shrinks such a box and pulls its aspect ratio towards the image's.
torchvision's ``RandomResizedCrop.get_params`` draws again (up to 10 times, then falls back
to a centre crop) and rounds ``w`` and ``h`` to whole pixels.

For each image side this script draws the same number of boxes from three samplers:

* ``focusmim``: ``sample_crop_boxes`` as every run uses it (``fit="clamp"``, fractional pixels);
* ``torchvision``: ``RandomResizedCrop.get_params`` (redrawn, whole pixels);
* ``redraw``: ``sample_crop_boxes(..., fit="redraw")``, torchvision's rule without its rounding
  to whole pixels, which tells the effect of clamping from the effect of rounding.

It reports, for the crop's area fraction ``h*w/(H*W)`` and its log aspect ratio
``log(w/h)``: the mean, the standard deviation, the two-sample Kolmogorov-Smirnov statistic
against torchvision (and focusmim's against ``redraw``: clamping alone), and how many boxes
were clamped (focusmim) or were the whole image (torchvision, redraw). At 32 px torchvision's whole-pixel sides make its histograms jagged and put many
boxes at exactly ``w = h``, so there the KS statistics against it include rounding. It writes
a JSON file to ``benchmarks/results/`` and a PNG of the histograms.

Usage:
    python benchmarks/bench_crop_distribution.py [--n 10000] [--sizes 96 32] [--seed 0]
        [--out benchmarks/results/crop-distribution-<date>.json] [--png book/crop_distribution.png]
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout
from focusmim.training.augment import sample_crop_boxes  # noqa: E402

SCALE = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)


def focusmim_boxes(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(h, w) of ``n`` boxes from focusmim's sampler, and how many were clamped."""
    g = torch.Generator().manual_seed(seed)
    b = sample_crop_boxes(n, size, size, g, scale=SCALE, ratio=RATIO).double()
    h, w = b[:, 2].numpy(), b[:, 3].numpy()
    clamped = int(((h >= size) | (w >= size)).sum())  # a side cut to the image's (full-image draws included)
    return h, w, {"clamped": clamped}


def torchvision_boxes(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(h, w) of ``n`` boxes from ``torchvision.transforms.RandomResizedCrop.get_params``."""
    from torchvision.transforms import RandomResizedCrop

    torch.manual_seed(seed)  # get_params draws from the global generator
    img = torch.zeros(3, size, size)
    hw = np.array([RandomResizedCrop.get_params(img, list(SCALE), list(RATIO))[2:] for _ in range(n)], float)
    full = int(((hw[:, 0] == size) & (hw[:, 1] == size)).sum())
    return hw[:, 0], hw[:, 1], {"full_image": full, "square": int((hw[:, 0] == hw[:, 1]).sum())}


def redraw_boxes(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(h, w) of ``n`` boxes from focusmim's ``fit="redraw"`` option (torchvision's rule, not rounded)."""
    g = torch.Generator().manual_seed(seed)
    b = sample_crop_boxes(n, size, size, g, scale=SCALE, ratio=RATIO, fit="redraw").double()
    h, w = b[:, 2].numpy(), b[:, 3].numpy()
    return h, w, {"whole_image": int(((h >= size) & (w >= size)).sum())}


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(a, b).statistic)


def summary(h: np.ndarray, w: np.ndarray, size: int) -> dict:
    area, logr = h * w / size**2, np.log(w / h)
    return {"area_mean": float(area.mean()), "area_std": float(area.std()), "area_median": float(np.median(area)),
            "log_ratio_mean": float(logr.mean()), "log_ratio_std": float(logr.std()),
            "share_area_above_0.75": float((area > 0.75).mean())}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 32])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"
                                         / f"crop-distribution-{time.strftime('%Y-%m-%d')}.json"))
    ap.add_argument("--png", default=str(ROOT / "book" / "crop_distribution.png"))
    args = ap.parse_args(argv)

    samplers = {"focusmim": focusmim_boxes, "torchvision": torchvision_boxes, "redraw": redraw_boxes}
    out = {"n": args.n, "seed": args.seed, "scale": list(SCALE), "ratio": list(RATIO),
           "torch": torch.__version__, "platform": platform.platform(), "date": time.strftime("%Y-%m-%d"),
           "sizes": {}}
    draws = {}
    for size in args.sizes:
        res = {}
        for name, sample in samplers.items():
            h, w, extra = sample(args.n, size, args.seed)
            draws[size, name] = (h * w / size**2, np.log(w / h))
            res[name] = {**summary(h, w, size), **extra}
        tv_area, tv_logr = draws[size, "torchvision"]
        for name in ("focusmim", "redraw"):
            area, logr = draws[size, name]
            res[name]["ks_area_vs_torchvision"] = ks(area, tv_area)
            res[name]["ks_log_ratio_vs_torchvision"] = ks(logr, tv_logr)
        # clamping alone (neither sampler rounds to whole pixels)
        (fa, fl), (ra, rl) = draws[size, "focusmim"], draws[size, "redraw"]
        res["focusmim"]["ks_area_vs_redraw"], res["focusmim"]["ks_log_ratio_vs_redraw"] = ks(fa, ra), ks(fl, rl)
        out["sizes"][str(size)] = res
        for name, r in res.items():
            ks_txt = (f", KS vs torchvision: area {r['ks_area_vs_torchvision']:.3f}, "
                      f"log-ratio {r['ks_log_ratio_vs_torchvision']:.3f}") if name != "torchvision" else ""
            print(f"{size:3d} px {name:11s}: area {r['area_mean']:.4f} +- {r['area_std']:.4f}, "
                  f"log(w/h) {r['log_ratio_mean']:+.4f} +- {r['log_ratio_std']:.4f}{ks_txt}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    if args.png:
        plot(draws, args.sizes, args.png)
        print(f"wrote {args.png} ({Path(args.png).stat().st_size // 1024} KB)")
    return out


def plot(draws: dict, sizes, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(sizes), 2, figsize=(8, 2.6 * len(sizes)), squeeze=False)
    style = {"torchvision": dict(color="black", lw=1.6), "focusmim": dict(color="tab:red", lw=1.2),
             "redraw": dict(color="tab:blue", lw=1.0, ls="--")}
    for i, size in enumerate(sizes):
        for j, (what, edges) in enumerate((("area fraction", np.linspace(0.08, 1.0, 47)),
                                           ("log(w / h)", np.linspace(math.log(0.75) - 0.05, math.log(4 / 3) + 0.05,
                                                                      47)))):
            ax = axes[i, j]
            for name, kw in style.items():
                label = {"focusmim": "focusmim (clamped)", "torchvision": "torchvision get_params",
                         "redraw": "focusmim fit='redraw'"}[name]
                ax.hist(draws[size, name][j], bins=edges, density=True, histtype="step", label=label, **kw)
            ax.set_title(f"{size} px: {what}", fontsize=9)
            ax.tick_params(labelsize=8)
            if i == 0 and j == 0:
                ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
