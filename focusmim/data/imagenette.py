"""Imagenette at 96 px: real ImageNet photographs at the paper's geometry (the book's STL-10 stand-in).

Imagenette (fast.ai) holds 10 easily told-apart ImageNet classes. ``imagenette96`` is that set
centre-square cropped and resized to 96 x 96 px, in the ``imagefolder`` layout::

    imagenette96/train/<class>/*.jpg   9,469 images (pretraining, and the probe's labeled pool)
    imagenette96/test/<class>/*.jpg    3,925 images (Imagenette's validation split)

Where the folder is looked for (:func:`find_root`): ``root`` (``Config.data_root``) when given, else
``$FOCUSMIM_DATA/imagenette96`` (or ``$FOCUSMIM_DATA`` itself when it holds ``train/`` and ``test/``),
else ``../shared/data/imagenette96`` beside the repository, else a copy prepared earlier in the cache
(``<cache>/imagenette96``). With ``download=True`` and none of those, fast.ai's official archive
(``imagenette2-160.tgz``, 94 MB, 160 px on the short side) is downloaded once and converted by
:func:`prepare` (same crop and resize, readable class names), so that users elsewhere get the same
layout; those files differ byte for byte from the shared copy (made from a 224 px source), so their
runs get their own keys (the data fingerprint is part of every run key).

Reading is the ``imagefolder`` reader's (:mod:`focusmim.data.imagefolder`): splits ``unlabeled``
(the train images, labels hidden), ``train`` and ``test``; decoded once, then cached.

Example:
    >>> from focusmim import data
    >>> ds = data.load("imagenette", "test", n=20)  # doctest: +SKIP
    >>> ds.images.shape, ds.classes[:2]  # doctest: +SKIP
    (torch.Size([20, 3, 96, 96]), ['cassette_player', 'chain_saw'])
"""
from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path

from focusmim.utils.progress import progress_bar

from .base import IMAGENETTE_FOLDER as FOLDER
from .base import is_split_tree as _is_tree
from .base import ImageSet, default_cache_dir
from .base import find_imagenette as find_root
from .imagefolder import load_imagefolder

__all__ = ["load_imagenette", "find_root", "prepare", "download_archive", "URL", "FOLDER", "CLASS_NAMES", "NATIVE_SIZE"]

URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz"
NATIVE_SIZE = 96
JPEG_QUALITY = 90
# ImageNet id -> the readable folder name used in imagenette96
CLASS_NAMES = {
    "n01440764": "tench", "n02102040": "english_springer", "n02979186": "cassette_player",
    "n03000684": "chain_saw", "n03028079": "church", "n03394916": "french_horn",
    "n03417042": "garbage_truck", "n03425413": "gas_pump", "n03445777": "golf_ball",
    "n03888257": "parachute",
}
_SPLITS = {"train": "train", "val": "test"}  # the archive's folder -> ours


def prepare(archive: str | os.PathLike, out: str | os.PathLike, *, size: int = NATIVE_SIZE) -> Path:
    """Convert fast.ai's Imagenette archive (``imagenette2*.tgz``: ``<top>/{train,val}/<wnid>/*.JPEG``)
    into the ``imagenette96`` layout under ``out``: central square crop, Lanczos resize to ``size``,
    RGB JPEG (quality 90), readable class names, ``val`` renamed ``test``. Written into a temporary
    folder beside ``out`` and renamed into place, so an interrupted conversion leaves nothing half done.
    Returns ``out``."""
    from PIL import Image, ImageOps

    out = Path(out)
    if _is_tree(out):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".imagenette-", dir=out.parent))
    n = 0
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) < 4 or parts[-3] not in _SPLITS:
                continue
            split, wnid, fname = _SPLITS[parts[-3]], parts[-2], parts[-1]
            if wnid not in CLASS_NAMES or fname.startswith("."):
                continue
            f = tar.extractfile(member)
            with Image.open(f) as im:
                im = ImageOps.fit(im.convert("RGB"), (size, size), Image.Resampling.LANCZOS)
                dest = work / split / CLASS_NAMES[wnid] / (Path(fname).stem + ".jpg")
                dest.parent.mkdir(parents=True, exist_ok=True)
                im.save(dest, "JPEG", quality=JPEG_QUALITY)
                n += 1
    if not _is_tree(work):
        raise ValueError(f"archive {archive} holds no Imagenette images (expected <top>/train/<wnid>/*.JPEG and "
                         f"<top>/val/<wnid>/*.JPEG with wnids among {sorted(CLASS_NAMES)})")
    os.replace(work, out)
    return out


def download_archive(cache_dir=None, url: str = URL) -> Path:
    """Download fast.ai's archive (``url``) into the cache once and :func:`prepare` it; returns the
    ``imagenette96`` folder (``<cache>/imagenette96``)."""
    base = Path(cache_dir) if cache_dir not in (None, False, True) else default_cache_dir()
    out = base / FOLDER
    if _is_tree(out):
        return out
    dest = base / "downloads" / url.rsplit("/", 1)[-1]
    if not dest.exists():
        _fetch(url, dest)
    return prepare(dest, out)


def _fetch(url: str, dest: Path) -> None:
    """Stream ``url`` into ``dest`` (a temporary file renamed into place), with a progress bar."""
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    with urllib.request.urlopen(url) as r, open(tmp, "wb") as f:
        total = int(r.headers.get("Content-Length") or 0) or None
        with progress_bar(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}") as bar:
            while chunk := r.read(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))
    os.replace(tmp, dest)


def load_imagenette(split, *, image_size=None, root=None, download=False, n=None, seed=0, cache_dir=None,
                    skip_bad: bool = False) -> ImageSet:
    """The ``imagenette`` entry of :data:`focusmim.data.REGISTRY` (see :func:`focusmim.data.load`);
    ``image_size=None`` keeps the native 96 px."""
    tree = find_root(root)
    if tree is None:
        if root is not None and not download:
            raise ValueError(f"data_root={str(root)!r} holds no imagenette96 folder (train/<class>/*.jpg and "
                             f"test/<class>/*.jpg); allowed: that folder, or download=True (fast.ai's archive, "
                             f"94 MB)")
        if not download:
            raise ValueError("dataset 'imagenette' not found: looked in $FOCUSMIM_DATA/imagenette96, "
                             "../shared/data/imagenette96 and the cache; allowed: data_root=<folder>, "
                             "or download=True (CLI --download; fast.ai's archive, 94 MB, converted once)")
        tree = download_archive(cache_dir)
    ds = load_imagefolder(split, image_size=image_size or NATIVE_SIZE, root=tree, n=n, seed=seed,
                          cache_dir=cache_dir, skip_bad=skip_bad)
    ds.name = "imagenette"
    return ds


from focusmim.config.schemas import DATASETS as REGISTRY  # noqa: E402

REGISTRY.register("imagenette")(load_imagenette)
