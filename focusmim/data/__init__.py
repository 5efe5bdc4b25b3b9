"""Datasets by name: each becomes a uint8 image tensor, labels and (when known)
foreground maps, cached on disk after the first decode.

Names (``REGISTRY.names()``): ``synthetic`` (generated here, no download),
``cifar10`` (ImageFolder of JPEGs or torchvision's download), ``stl10``
(torchvision's binary files), ``imagefolder`` (your own images, any classes and
sizes; :mod:`focusmim.data.imagefolder`), ``imagenette`` (ImageNet photographs at 96 px, the book's
STL-10 stand-in; :mod:`focusmim.data.imagenette`). Splits: ``unlabeled``, ``train``, ``test``.

Example:
    >>> from focusmim import data
    >>> ds = data.load("synthetic", "train", image_size=32, n=20, cache_dir=False)
    >>> ds.images.shape, ds.images.dtype, ds.foreground.shape
    (torch.Size([20, 3, 32, 32]), torch.uint8, torch.Size([20, 1, 32, 32]))
    >>> data.REGISTRY.names()
    ['cifar10', 'imagefolder', 'imagenette', 'stl10', 'synthetic']
"""
from __future__ import annotations

import os
from pathlib import Path

from focusmim.config.schemas import DATASETS

from .base import SPLITS, ImageSet, check_image_size, check_n, check_split, default_cache_dir

REGISTRY = DATASETS  # names declared in focusmim.config.schemas
register = REGISTRY.register

__all__ = ["REGISTRY", "register", "ImageSet", "SPLITS", "load", "load_for_config", "cache_dir",
           "register_foreground"]

# foreground sources computed by layers above this one: name -> attach(imageset, cfg, split) -> ImageSet.
# ``focusmim.data.foreground`` registers 'rembg' when it is imported.
FOREGROUND_SOURCES: dict = {}


def register_foreground(name: str, attach) -> None:
    """Let :func:`load_for_config` attach maps for ``cfg.foreground == name`` with
    ``attach(imageset_without_maps, cfg, split)``.

    Example:
        >>> from focusmim import data
        >>> from focusmim.data import foreground
        >>> "rembg" in data.FOREGROUND_SOURCES
        True
    """
    if not callable(attach):
        raise ValueError(f"attach={attach!r} is not allowed; allowed: a callable")
    FOREGROUND_SOURCES[name] = attach


def cache_dir() -> Path:
    """Where decoded datasets are cached: ``$FOCUSMIM_CACHE`` or ``~/.cache/focusmim``."""
    return default_cache_dir()


def load(
    name: str,
    split: str,
    *,
    image_size: int | None = None,
    root: str | os.PathLike | None = None,
    download: bool = False,
    n: int | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike | None | bool = None,
    skip_bad: bool = False,
) -> ImageSet:
    """Load one split of a dataset as an :class:`ImageSet`.

    Args:
        name: one of ``REGISTRY.names()``.
        split: ``"unlabeled"``, ``"train"`` or ``"test"``.
        image_size: resize to this square size (antialiased); ``None`` keeps the native size
            (96 for ``synthetic`` and ``stl10``, 32 for ``cifar10``).
        root: folder with the files (``cifar10``/``stl10``); ``None`` uses ``$FOCUSMIM_DATA`` or ``../shared/data``.
        download: let torchvision download the files when they are missing.
        n: a deterministic subset of this size (class-balanced for labeled splits); ``None``: the whole split.
        seed: selects the subset (and, for ``synthetic``, the images themselves).
        cache_dir: cache folder; ``None``: :func:`cache_dir`; ``False``: no cache.
        skip_bad: ``imagefolder`` only: skip unreadable image files with a warning instead of stopping.
    """
    REGISTRY.check(name, "name")
    check_split(split)
    check_image_size(image_size)
    check_n(n)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} is not allowed; allowed: a whole number >= 0")
    if not isinstance(download, bool):
        raise ValueError(f"download={download!r} is not allowed; allowed: True, False")
    if not isinstance(skip_bad, bool):
        raise ValueError(f"skip_bad={skip_bad!r} is not allowed; allowed: True, False")
    if cache_dir is True:
        cache_dir = None
    extra = {"skip_bad": skip_bad} if name == "imagefolder" else {}
    return REGISTRY.build(
        name, split=split, image_size=image_size, root=root, download=download, n=n, seed=seed, cache_dir=cache_dir,
        **extra,
    )


def load_for_config(cfg, split: str) -> ImageSet:
    """The split a run described by ``cfg`` (a :class:`focusmim.config.Config`) uses.

    ``unlabeled`` takes ``cfg.n_unlabeled`` images, ``train`` ``cfg.n_labeled``, ``test``
    ``cfg.n_test``. The data subset uses seed 0 whatever ``cfg.seed`` is, so runs that
    differ only in their seed see the same images. ``cfg.foreground``: ``gt`` keeps the
    synthetic ground-truth maps, ``none`` drops them, ``rembg`` computes them with
    :mod:`focusmim.data.foreground` (which registers itself here when imported).
    """
    check_split(split)
    n = {"unlabeled": cfg.n_unlabeled, "train": cfg.n_labeled, "test": cfg.n_test}[split]
    ds = load(cfg.dataset, split, image_size=cfg.image_size, root=cfg.data_root, download=cfg.download, n=n, seed=0,
              skip_bad=cfg.skip_bad_images)
    if cfg.foreground == "gt":
        if ds.foreground is None:
            raise ValueError(
                f"foreground='gt' needs ground-truth masks, which dataset={cfg.dataset!r} does not have; "
                "allowed: 'none', 'rembg' (or dataset='synthetic')"
            )
        return ds
    if cfg.foreground == "none":
        return ds.without_foreground()
    if cfg.foreground in FOREGROUND_SOURCES:
        return FOREGROUND_SOURCES[cfg.foreground](ds.without_foreground(), cfg, split)
    if cfg.foreground == "rembg":
        raise ValueError("foreground='rembg' needs its maps' package: `import focusmim.data.foreground` first "
                         "(focusmim.training.train does)")
    raise ValueError(f"foreground={cfg.foreground!r} is not allowed; allowed: 'none', 'gt', 'rembg'")


# registering the datasets (their heavy imports happen lazily, inside the loaders)
from . import cifar10, imagefolder, imagenette, stl10, synthetic  # noqa: E402,F401
