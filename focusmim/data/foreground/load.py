"""Foreground maps attached to datasets: the paper's filter applied to an ImageSet.

Importing :mod:`focusmim.data.foreground` registers ``foreground='rembg'`` with
:func:`focusmim.data.load_for_config` (the data layer does not import this
package: it sits below it), so a config with ``foreground='rembg'`` loads
filtered images with their maps.

Example (a stand-in predictor instead of u2netp):
    >>> import tempfile, torch, types
    >>> from focusmim.data.base import ImageSet
    >>> from focusmim.data.foreground import attach_foreground
    >>> images = torch.zeros(2, 3, 32, 32, dtype=torch.uint8); images[1, :, :8, :8] = 255
    >>> ds = ImageSet(images, torch.arange(2), ["a", "b"], None, "toy")
    >>> cfg = types.SimpleNamespace(foreground="rembg", dataset="toy")
    >>> out = attach_foreground(ds, cfg, cache_dir=tempfile.mkdtemp(), progress=False,
    ...                         predict=lambda x: x[:, :1].clone())
    >>> out.labels.tolist(), tuple(out.foreground.shape)
    ([1], (1, 1, 32, 32))
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Callable

import torch

from focusmim.data import load_for_config, register_foreground

from .cache import check_images, foreground_cache_path
from .filter import filter_report, keep_mask
from .maps import foreground_maps

__all__ = ["attach_foreground", "split_with_maps"]

log = logging.getLogger(__name__)

_PRINTED: set[str] = set()


def _print_once(msg: str) -> None:
    """Print ``msg`` the first time only: every run of a chapter that loads the same
    filtered split reports the same counts (chapter 5 printed its filter line twice)."""
    if msg not in _PRINTED:
        _PRINTED.add(msg)
        print(msg)


def attach_foreground(
    imageset,
    cfg,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    batch_size: int = 256,
    workers: int | None = None,
    min_pixels: float | None = None,
    threshold: float = 0.8,
    drop: bool = True,
    predict: Callable[[torch.Tensor], torch.Tensor] | None = None,
):
    """rembg maps for an ImageSet (cached), the paper's filter applied: a new ImageSet.

    Images whose map has at most ``min_pixels`` pixels (``None``: 100 scaled to the
    image area) at confidence >= ``threshold`` are dropped; the others keep their
    labels, and ``.foreground`` holds their uint8 maps. The number dropped is logged
    and, with ``progress``, printed. ``cfg.foreground`` must be ``'rembg'``.
    ``drop=False`` attaches the maps to every image and only reports the count (the
    paper filtered its pretraining set, not the probe's labeled/test images).

    Example:
        >>> from focusmim.config import make_config
        >>> from focusmim import data
        >>> from focusmim.data import foreground
        >>> cfg = make_config("smoke", foreground="rembg")              # doctest: +SKIP
        >>> ds = foreground.attach_foreground(data.load("synthetic", "unlabeled", n=64), cfg)  # doctest: +SKIP
    """
    if not isinstance(drop, bool):
        raise ValueError(f"drop={drop!r} is not allowed; allowed: True, False")
    fg_mode = getattr(cfg, "foreground", None)
    if fg_mode != "rembg":
        raise ValueError(f"cfg.foreground={fg_mode!r} is not allowed here; allowed: 'rembg'")
    images = getattr(imageset, "images", None)
    check_images(images, "imageset.images")
    name = getattr(imageset, "name", "") or getattr(cfg, "dataset", "")
    path = foreground_cache_path(images, name, cache_dir)
    fg = foreground_maps(
        images, batch_size=batch_size, progress=progress, cache_path=path, workers=workers, predict=predict
    )
    report = filter_report(fg, min_pixels, threshold)
    keep = keep_mask(fg, min_pixels, threshold)
    if not drop:
        msg = (
            f"rembg foreground on {name or 'images'}: {report['dropped']} of {report['n']} images have at most "
            f"{report['min_pixels']:.1f} pixels at confidence >= {threshold} (kept, drop=False)"
        )
        log.info(msg)
        if progress:
            _print_once(msg)
        return dataclasses.replace(imageset, foreground=fg.to(images.device))
    if report["kept"] == 0:
        raise ValueError(
            f"the foreground filter dropped all {report['n']} images of {name!r} (min_pixels="
            f"{report['min_pixels']:.1f}, threshold={threshold}); allowed: a set where rembg finds an object"
        )
    msg = (
        f"rembg foreground filter on {name or 'images'}: kept {report['kept']} of {report['n']}, dropped "
        f"{report['dropped']} ({100 * report['fraction_dropped']:.1f}%) with at most {report['min_pixels']:.1f} "
        f"pixels at confidence >= {threshold}"
    )
    log.info(msg)
    if progress:
        _print_once(msg)
    index = torch.nonzero(keep).squeeze(1)
    subset = imageset.subset(index.to(images.device))
    return dataclasses.replace(subset, foreground=fg[index].to(subset.images.device))


def split_with_maps(cfg, split: str, n: int | None = None, *, drop: bool = False, workers: int | None = None,
                    progress: bool = True):
    """The first ``n`` images (``None``: all) of a split of ``cfg``'s dataset with rembg's
    maps attached (cached; see :func:`attach_foreground`); ``drop`` applies the paper's filter.

    Maps are computed only for the images returned, so chapters that measure on a few
    test images do not run u2netp on the whole split.
    """
    ds = load_for_config(cfg.replace(foreground="none"), split)
    if n is not None:
        ds = ds.subset(torch.arange(min(n, len(ds))))
    return attach_foreground(ds, cfg.replace(foreground="rembg"), drop=drop, workers=workers, progress=progress)


def _load_rembg(ds, cfg, split: str):
    # the paper filters only the pretraining images; the probe's splits keep every image
    return attach_foreground(ds, cfg, drop=(split == "unlabeled"))


register_foreground("rembg", _load_rembg)
