"""How well one foreground map matches another: intersection over union, and u2netp against
the synthetic images' ground truth.

Example:
    >>> import torch
    >>> from focusmim.data.foreground.quality import iou
    >>> a = torch.zeros(1, 1, 4, 4); a[..., :2, :] = 1     # top half
    >>> round(iou(a, a).mean, 4), round(iou(a, 1 - a).mean, 4)
    (1.0, 0.0)
"""
from __future__ import annotations

import time
from typing import Callable, NamedTuple

import torch

from focusmim.data import load
from focusmim.config.registry import Param

from .cache import MODEL_NAME, foreground_cache_path
from .filter import THRESHOLD, binarize, check_maps, filter_report
from .maps import foreground_maps

__all__ = ["IoUResult", "iou", "segmentation_quality"]


class IoUResult(NamedTuple):
    per_image: torch.Tensor  # float (N,)
    mean: float


def iou(pred_fg: torch.Tensor, gt_fg: torch.Tensor, threshold: float = 0.5) -> IoUResult:
    """Intersection over union of the two maps binarised at ``threshold`` (0..1 scale).

    Either map may be uint8 (0..255, binarised at ``ceil(255 * threshold)``) or float
    (0..1). An image where both masks are empty scores 1 (they agree).

    Example:
        >>> import torch
        >>> from focusmim.data.foreground import iou
        >>> a = torch.zeros(1, 1, 4, 4); a[..., :2, :] = 1     # top half
        >>> b = torch.zeros(1, 1, 4, 4); b[..., :, :2] = 1     # left half
        >>> r = iou(a, b)
        >>> r.per_image.tolist(), round(r.mean, 4)
        ([0.3333333432674408], 0.3333)
    """
    check_maps(pred_fg, "pred_fg")
    check_maps(gt_fg, "gt_fg")
    if pred_fg.shape != gt_fg.shape:
        raise ValueError(
            f"pred_fg has shape {tuple(pred_fg.shape)} and gt_fg {tuple(gt_fg.shape)}; allowed: equal shapes"
        )
    THRESHOLD.check("threshold", threshold)
    p = binarize(pred_fg, float(threshold)).flatten(1)
    g = binarize(gt_fg, float(threshold)).to(p.device).flatten(1)
    inter = (p & g).sum(1).float()
    union = (p | g).sum(1).float()
    per = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
    return IoUResult(per, float(per.mean()) if per.numel() else float("nan"))


def segmentation_quality(n: int = 16, *, image_size: int = 96, threshold: float = 0.5, n_show: int = 6,
                         predict: Callable[[torch.Tensor], torch.Tensor] | None = None,
                         progress: bool = False) -> dict:
    """rembg's u2netp maps against the synthetic ground truth on ``n`` test images.

    Returns the mean and per-image IoU (both maps binarised at ``threshold``), the
    paper's filter applied to both kinds of map, a few examples, and the seconds
    spent. The maps are cached (:func:`~focusmim.data.foreground.maps.foreground_maps`). When the
    u2netp weights are missing the result says so (``available: False``) instead
    of raising, so the book still builds. ``predict`` replaces u2netp (tests).

    Example:
        >>> import torch
        >>> from focusmim.data.foreground import segmentation_quality
        >>> fake = lambda x: (x[:, :1] > 128).to(torch.uint8) * 255
        >>> r = segmentation_quality(4, image_size=32, predict=fake)
        >>> r["available"], len(r["iou_per_image"]), 0 <= r["iou_mean"] <= 1
        (True, 4, True)
    """
    Param("int", low=1).check("n", n)
    THRESHOLD.check("threshold", threshold)
    ds = load("synthetic", "test", image_size=image_size, n=n, seed=0)
    t0 = time.perf_counter()
    try:
        path = None if predict is not None else foreground_cache_path(ds.images, f"synthetic-iou-{image_size}")
        pred = foreground_maps(ds.images, cache_path=path, predict=predict, progress=progress)
    except (FileNotFoundError, ImportError) as err:
        return {"available": False, "reason": str(err), "n": n, "image_size": image_size}
    res = iou(pred, ds.foreground, threshold=threshold)
    k = min(n_show, n)
    return {
        "available": True,
        "n": n,
        "image_size": image_size,
        "threshold": threshold,
        "iou_mean": res.mean,
        "iou_per_image": res.per_image.tolist(),
        "filter_rembg": filter_report(pred),
        "filter_gt": filter_report(ds.foreground),
        "seconds": time.perf_counter() - t0,
        "model": "fake" if predict is not None else MODEL_NAME,
        "examples": {"images": ds.images[:k].tolist(), "gt": ds.foreground[:k].tolist(),
                     "rembg": pred[:k].tolist()},
    }
