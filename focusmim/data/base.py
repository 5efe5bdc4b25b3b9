"""The in-memory dataset type and the helpers every dataset module shares:
the on-disk cache, deterministic (class-balanced) subsets and batched resizing.

Example:
    >>> import torch
    >>> from focusmim.data.base import ImageSet, balanced_subset_index
    >>> ds = ImageSet(torch.zeros(6, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 0, 0, 1, 1, 1]), ["a", "b"])
    >>> len(ds), ds.subset(torch.tensor([0, 3])).labels.tolist()
    (6, [0, 1])
    >>> idx = balanced_subset_index(ds.labels, 4, seed=0)
    >>> sorted(ds.labels[idx].tolist())
    [0, 0, 1, 1]
"""
from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from focusmim.utils.io import atomic_save
from focusmim.config.locations import (DATA_FOLDERS, IMAGENETTE_FOLDER, default_cache_dir,  # noqa: F401
                                       default_data_root, default_download_root, find_imagenette, is_split_tree,
                                       shown_path)
from focusmim.config.registry import Param

SPLITS = ("unlabeled", "train", "test")

__all__ = [
    "ImageSet",
    "SPLITS",
    "default_cache_dir",
    "default_data_root",
    "shown_path",
    "cached",
    "cache_key",
    "balanced_subset_index",
    "resize_uint8",
    "finish",
    "check_split",
    "check_n",
    "check_image_size",
]


@dataclass
class ImageSet:
    """Images as one uint8 tensor, with labels (``-1`` = unlabeled) and optional foreground maps.

    Example:
        >>> import torch
        >>> ds = ImageSet(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([1, -1]), ["a", "b"], name="toy")
        >>> ds.images.shape, ds.labels.tolist(), len(ds)
        (torch.Size([2, 3, 4, 4]), [1, -1], 2)
    """

    images: torch.Tensor  # uint8 (N,3,H,W)
    labels: torch.Tensor  # int64 (N,), -1 where unlabeled
    classes: list
    foreground: torch.Tensor | None = None  # uint8 (N,1,H,W), 255 = certainly object
    name: str = ""

    def __post_init__(self) -> None:
        im, lab, fg = self.images, self.labels, self.foreground
        if not (isinstance(im, torch.Tensor) and im.dtype == torch.uint8 and im.dim() == 4 and im.shape[1] == 3):
            raise ValueError(
                f"images must be a uint8 tensor of shape (N,3,H,W); got "
                f"{getattr(im, 'dtype', type(im))} {tuple(getattr(im, 'shape', ()))}"
            )
        if not isinstance(lab, torch.Tensor) or lab.shape != (im.shape[0],):
            raise ValueError(f"labels must be a tensor of shape ({im.shape[0]},); got {tuple(getattr(lab, 'shape', ()))}")
        self.labels = lab.to(torch.int64)
        if fg is not None and not (
            isinstance(fg, torch.Tensor) and fg.dtype == torch.uint8 and fg.shape == (im.shape[0], 1, *im.shape[2:])
        ):
            raise ValueError(
                f"foreground must be None or a uint8 tensor of shape {(im.shape[0], 1, *im.shape[2:])}; got "
                f"{getattr(fg, 'dtype', type(fg))} {tuple(getattr(fg, 'shape', ()))}"
            )
        self.classes = list(self.classes)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def to(self, device) -> "ImageSet":
        """A copy with every tensor on ``device``."""
        fg = None if self.foreground is None else self.foreground.to(device)
        return ImageSet(self.images.to(device), self.labels.to(device), self.classes, fg, self.name)

    def subset(self, index) -> "ImageSet":
        """The images at ``index`` (int64 tensor, list of ints, or bool mask), in that order."""
        index = torch.as_tensor(index)
        if index.dtype == torch.bool:
            if index.shape != (len(self),):
                raise ValueError(f"a boolean index must have shape ({len(self)},); got {tuple(index.shape)}")
            index = index.nonzero().flatten()
        if index.dtype not in (torch.int64, torch.int32) or index.dim() != 1:
            raise ValueError("index must be a 1-D integer tensor/list or a boolean mask")
        if index.numel() and (int(index.min()) < -len(self) or int(index.max()) >= len(self)):
            raise ValueError(f"index out of range; allowed: integers in [0, {len(self)})")
        index = index.to(self.images.device, torch.int64)
        fg = None if self.foreground is None else self.foreground[index]
        return ImageSet(self.images[index], self.labels[index.to(self.labels.device)], self.classes, fg, self.name)

    def without_foreground(self) -> "ImageSet":
        return ImageSet(self.images, self.labels, self.classes, None, self.name)

    def state(self) -> dict:
        """A plain dict of tensors/strings (what the cache stores)."""
        return {
            "images": self.images, "labels": self.labels, "classes": list(self.classes),
            "foreground": self.foreground, "name": self.name,
        }

    @classmethod
    def from_state(cls, d: dict) -> "ImageSet":
        return cls(d["images"], d["labels"], list(d["classes"]), d.get("foreground"), d.get("name", ""))

    def __repr__(self) -> str:
        fg = "" if self.foreground is None else ", foreground"
        lab = int((self.labels >= 0).sum())
        return (f"ImageSet({self.name!r}, {len(self)} images {tuple(self.images.shape[1:])}, "
                f"{lab} labeled, {len(self.classes)} classes{fg})")


# ----------------------------------------------------------------------------- checks
def check_split(split: str) -> str:
    Param("choice", choices=SPLITS).check("split", split)
    return split


def check_n(n) -> int | None:
    """``n`` (None: the whole split) unless it is not a whole number >= 1."""
    Param("int", low=1, none=True).check("n", n)
    return n


def check_image_size(image_size, *, allow_none: bool = True) -> int | None:
    """``image_size`` (None: the native size, when ``allow_none``) unless it is not a whole number >= 8."""
    Param("int", low=8, none=allow_none).check("image_size", image_size)
    return image_size


# ----------------------------------------------------------------------------- cache
def cache_key(*parts) -> str:
    """A readable, file-name-safe key: the parts joined by ``-`` plus a short hash of all of them."""
    text = "|".join(str(p) for p in parts)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    readable = "-".join(str(p) for p in parts[:5])
    readable = "".join(c if c.isalnum() or c in "-_." else "_" for c in readable)[:80]
    return f"{readable}-{digest}"


def cached(key: str, build: Callable[[], ImageSet], folder: str | os.PathLike | None | bool = None) -> ImageSet:
    """Load ``<folder>/<key>.pt`` if it exists, else ``build()`` and save it atomically.

    ``folder=None`` uses :func:`default_cache_dir`; ``folder=False`` disables the cache.
    An unreadable cache file is rebuilt (with a warning) rather than trusted.
    """
    if folder is False:
        return build()
    folder = default_cache_dir() if folder is None else Path(folder)
    path = folder / f"{key}.pt"
    if path.exists():
        try:
            return ImageSet.from_state(torch.load(path, weights_only=True))
        except Exception as exc:  # corrupt or from an incompatible version
            warnings.warn(f"ignoring unreadable cache file {path} ({exc}); rebuilding it")
    ds = build()
    try:
        atomic_save(ds.state(), path)
    except OSError as exc:  # a read-only cache folder must not stop the work
        warnings.warn(f"could not write cache file {path} ({exc})")
    return ds


# ----------------------------------------------------------------------------- subsets / resizing
def spread_over_classes(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Indices of ``n`` example images spread over the classes, for figures: the first
    image of each class (in class order), then the second of each, and so on. Splits
    stored in class order (CIFAR-10's test folder) would otherwise show one class only.

    Example:
        >>> spread_over_classes(torch.tensor([0, 0, 0, 1, 1, 2]), 4).tolist()
        [0, 3, 5, 1]
        >>> spread_over_classes(torch.full((5,), -1), 2).tolist()  # unlabeled: the first n
        [0, 1]
    """
    check_n(n)
    lab = torch.as_tensor(labels).to(torch.int64).cpu()
    order = torch.sort(lab, stable=True).indices
    sorted_lab = lab[order]
    rank = torch.empty_like(lab)
    rank[order] = torch.arange(len(lab)) - torch.searchsorted(sorted_lab, sorted_lab, side="left")
    key = rank * (int(lab.max()) - int(lab.min()) + 2 if len(lab) else 1) + (lab - (int(lab.min()) if len(lab) else 0))
    return torch.argsort(key, stable=True)[:n]


def balanced_subset_index(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of a deterministic subset of size ``n`` (all indices when ``n >= len``).

    Labeled sets are taken class-balanced: classes are visited round-robin, each in a
    seeded random order, so every class gets ``n // C`` or ``n // C + 1`` images (while
    it has enough). Unlabeled entries (``-1``) count as one more group.
    """
    check_n(n)
    N = int(labels.shape[0])
    if n >= N:
        return torch.arange(N)
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(N, generator=g)
    lab = labels[perm].to(torch.int64)
    # rank of each permuted element within its class (stable order of appearance)
    order = torch.sort(lab, stable=True).indices
    sorted_lab = lab[order]
    first = torch.searchsorted(sorted_lab, sorted_lab, side="left")
    rank = torch.empty(N, dtype=torch.int64)
    rank[order] = torch.arange(N) - first
    # round-robin over classes; ties within a round broken by a per-class random offset
    class_offset = torch.randperm(int(lab.max() - lab.min()) + 1, generator=g)[lab - lab.min()]
    take = torch.argsort(rank * (N + 1) + class_offset, stable=True)[:n]
    return torch.sort(perm[take]).values


def resize_uint8(images: torch.Tensor, size: int, *, chunk: int = 1024) -> torch.Tensor:
    """Resize uint8 ``(N,C,H,W)`` to ``(N,C,size,size)`` with antialiased bilinear interpolation, in chunks."""
    check_image_size(size, allow_none=False)
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for s in range(0, images.shape[0], chunk):
        x = images[s : s + chunk].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[s : s + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def finish(ds: ImageSet, *, image_size: int | None, n: int | None, seed: int) -> ImageSet:
    """Take the deterministic subset first (cheap), then resize what is left."""
    if n is not None and n < len(ds):
        ds = ds.subset(balanced_subset_index(ds.labels, n, seed))
    if image_size is not None and ds.image_size != image_size:
        fg = None if ds.foreground is None else resize_uint8(ds.foreground, image_size)
        ds = ImageSet(resize_uint8(ds.images, image_size), ds.labels, ds.classes, fg, ds.name)
    return ds


def native_then_resized(name: str, split: str, ds, *, image_size, n, seed, source, cache_dir):
    """A dataset decoded at its native size (``ds``), subset and resized to ``image_size``
    (cached under its own key when a resize is needed)."""
    if image_size is None or image_size == ds.image_size:
        return finish(ds, image_size=None, n=n, seed=seed)
    key = cache_key(name, split, f"{image_size}px", f"n{n or 'all'}", f"seed{seed}", source)
    return cached(key, lambda: finish(ds, image_size=image_size, n=n, seed=seed), cache_dir)
