"""STL-10 (96 px; 100,000 unlabeled, 5,000 train, 8,000 test images) through
torchvision's reader of the official binary files (``<root>/stl10_binary/*.bin``).

torchvision's ``STL10`` verifies the md5 of all five files (2.6 GB) in its
constructor before reading any. :class:`_STL10Files` keeps torchvision's real
reader and download code but replaces that check with a structural one on the
files the requested split needs (present, whole number of 3x96x96 images, as many
labels as images), so a truncated file gets a clear error naming it, reading is
not slowed by hashing gigabytes, and small files written in the same format (the
tests) go through exactly the same reader.

Example:
    >>> from focusmim import data
    >>> ds = data.load("stl10", "train", root="/data", image_size=64)  # doctest: +SKIP
    >>> ds.images.shape  # doctest: +SKIP
    torch.Size([5000, 3, 64, 64])
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from focusmim.config.locations import find_stl10 as find_root

from .base import ImageSet, cache_key, cached, default_download_root, native_then_resized

__all__ = ["load_stl10", "find_root", "read_split"]

NATIVE_SIZE = 96
IMAGE_BYTES = 3 * 96 * 96
FILES = {"train": ("train_X.bin", "train_y.bin"), "test": ("test_X.bin", "test_y.bin"), "unlabeled": ("unlabeled_X.bin", None)}
CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def _files_problem(folder: Path, split: str) -> str | None:
    """Why the files for ``split`` under ``folder`` cannot be read, or ``None`` when they look whole."""
    x_name, y_name = FILES[split]
    x = folder / x_name
    if not x.is_file():
        return f"missing file {x}"
    size = x.stat().st_size
    if size == 0 or size % IMAGE_BYTES:
        return f"file {x} is truncated or corrupt: {size} bytes is not a whole number of 3x96x96 images"
    if y_name is not None:
        y = folder / y_name
        if not y.is_file():
            return f"missing file {y}"
        if y.stat().st_size != size // IMAGE_BYTES:
            return (f"file {y} is truncated or corrupt: {y.stat().st_size} labels for "
                    f"{size // IMAGE_BYTES} images in {x.name}")
    return None


def _stl10_class():
    from torchvision.datasets import STL10

    class _STL10Files(STL10):
        """torchvision's STL10 with a structural integrity check instead of md5 (see the module docstring)."""

        def _check_integrity(self) -> bool:
            return _files_problem(Path(self.root) / self.base_folder, self.split) is None

    return _STL10Files


def read_split(root: str | os.PathLike, split: str, download: bool = False) -> ImageSet:
    """Read one split from ``root/stl10_binary`` with torchvision's reader (downloading if asked)."""
    root = Path(root)
    if not download:
        problem = _files_problem(root / "stl10_binary", split)
        if problem:
            raise ValueError(f"STL-10 {split!r} split cannot be read: {problem}. " + _HOW)
    try:
        tv = _stl10_class()(str(root), split=split, download=download)
    except (RuntimeError, OSError) as exc:
        raise ValueError(f"STL-10 {split!r} split under {root} cannot be read ({exc}). " + _HOW) from exc
    images = torch.from_numpy(tv.data).contiguous()  # uint8 (N,3,96,96), already transposed by torchvision
    labels = torch.from_numpy(tv.labels.astype("int64"))
    classes = list(getattr(tv, "classes", CLASSES)) or CLASSES
    if split != "unlabeled" and labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < len(classes)):
        raise ValueError(f"file {root / 'stl10_binary' / FILES[split][1]} holds labels outside 1..{len(classes)}")
    return ImageSet(images, labels, classes, None, "stl10")


_HOW = ("Get STL-10 with download=True on a machine with internet (torchvision fetches 2.6 GB), or pass "
        "root= (or set $FOCUSMIM_DATA) to a folder containing stl10_binary/")


def load_stl10(split, *, image_size=None, root=None, download=False, n=None, seed=0, cache_dir=None) -> ImageSet:
    """The ``stl10`` entry of :data:`focusmim.data.REGISTRY` (see :func:`focusmim.data.load`)."""
    base = find_root(root)
    if base is None:
        if not download:
            raise ValueError(f"STL-10 not found (root={root!r}). " + _HOW)
        base = Path(root).expanduser() if root is not None else default_download_root(cache_dir)
    source = str(base.resolve())
    raw = lambda: read_split(base, split, download)  # noqa: E731
    ds = cached(cache_key("stl10", split, "native", source), raw, cache_dir)
    return native_then_resized("stl10", split, ds, image_size=image_size, n=n, seed=seed, source=source,
                               cache_dir=cache_dir)


from focusmim.config.schemas import DATASETS as REGISTRY  # noqa: E402

REGISTRY.register("stl10")(load_stl10)
