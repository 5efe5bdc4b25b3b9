"""CIFAR-10 from an ImageFolder tree of JPEGs (``root/{train,test}/<class>/*.jpg``), or
through torchvision's ``CIFAR10(download=True)``.

Splits: ``unlabeled`` is the whole train folder with its labels set to ``-1``;
``train`` is a class-balanced subset of the same train folder (with labels), so the
probe's training images are also among the pretraining images (as with STL-10's
``train+unlabeled``); ``test`` is the test folder. Decoded once, then cached.

Example:
    >>> from focusmim import data
    >>> ds = data.load("cifar10", "test", n=100)  # doctest: +SKIP
    >>> ds.images.shape, ds.classes[:2]  # doctest: +SKIP
    (torch.Size([100, 3, 32, 32]), ['airplane', 'automobile'])
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from focusmim.config.locations import find_cifar10 as find_root

from .base import ImageSet, cache_key, cached, default_download_root, native_then_resized

__all__ = ["load_cifar10", "find_root", "decode_folder"]

NATIVE_SIZE = 32
_EXTS = {".jpg", ".jpeg", ".png"}


def _decode_one(path: str) -> torch.Tensor:
    """One image file as a uint8 (3,H,W) tensor; a file that cannot be decoded raises
    ValueError naming it."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as im:
            return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
    except (OSError, ValueError, SyntaxError) as exc:  # PIL: UnidentifiedImageError, truncated file, bad header
        raise ValueError(f"image file {path} cannot be decoded ({exc}); replace or remove it") from exc


def decode_folder(folder: str | os.PathLike) -> ImageSet:
    """Decode every image of ``folder/<class>/*`` (classes in sorted order, as ImageFolder does)."""
    folder = Path(folder)
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if not classes:
        raise ValueError(f"{folder} holds no class folders; expected {folder}/<class>/*.jpg")
    paths, labels = [], []
    for k, c in enumerate(classes):
        files = sorted(p for p in (folder / c).iterdir() if p.suffix.lower() in _EXTS)
        paths += [str(p) for p in files]
        labels += [k] * len(files)
    if not paths:
        raise ValueError(f"{folder} holds no images (*.jpg, *.jpeg, *.png)")
    imgs = [_decode_one(p) for p in paths]  # PIL, ~0.15 ms each: 60,000 in ~10 s, once (then cached)
    sizes = {tuple(i.shape) for i in imgs}
    if len(sizes) != 1:
        raise ValueError(f"images under {folder} differ in size ({sorted(sizes)[:3]}...); expected one size")
    return ImageSet(torch.stack(imgs), torch.tensor(labels, dtype=torch.int64), classes, None, "cifar10")


def _torchvision_split(root: Path, train: bool, download: bool) -> ImageSet:
    from torchvision.datasets import CIFAR10

    try:
        tv = CIFAR10(str(root), train=train, download=download)
    except RuntimeError as exc:
        raise ValueError(f"CIFAR-10 files under {root} are missing or corrupt ({exc}); pass download=True") from exc
    images = torch.from_numpy(tv.data).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, torch.tensor(tv.targets, dtype=torch.int64), list(tv.classes), None, "cifar10")


def load_cifar10(split, *, image_size=None, root=None, download=False, n=None, seed=0, cache_dir=None) -> ImageSet:
    """The ``cifar10`` entry of :data:`focusmim.data.REGISTRY` (see :func:`focusmim.data.load`)."""
    folder_split = "test" if split == "test" else "train"
    tree = find_root(root)
    if tree is not None:
        source = f"folder:{tree.resolve()}"
        raw = lambda: decode_folder(tree / folder_split)  # noqa: E731
    else:
        tv_root = Path(root).expanduser() if root is not None else default_download_root(cache_dir)
        if not download and not (tv_root / "cifar-10-batches-py").is_dir():
            raise ValueError(
                f"CIFAR-10 not found (root={root!r}); allowed: root= (or $FOCUSMIM_DATA) pointing at an ImageFolder "
                "tree with train/<class>/*.jpg and test/<class>/*.jpg, or a folder holding torchvision's "
                "cifar-10-batches-py/, or download=True to let torchvision fetch it"
            )
        source = f"torchvision:{tv_root.resolve()}"
        raw = lambda: _torchvision_split(tv_root, folder_split == "train", download)  # noqa: E731
    ds = cached(cache_key("cifar10", folder_split, "native", source), raw, cache_dir)
    if split == "unlabeled":
        ds = ImageSet(ds.images, torch.full_like(ds.labels, -1), ds.classes, None, ds.name)
    return native_then_resized("cifar10", split, ds, image_size=image_size, n=n, seed=seed, source=source,
                               cache_dir=cache_dir)


from focusmim.config.schemas import DATASETS as REGISTRY  # noqa: E402

REGISTRY.register("cifar10")(load_cifar10)
