"""Your own images: the ``imagefolder`` dataset, read from a folder of image files.

Two layouts (``root`` is ``Config.data_root``, CLI ``--data-root``)::

    root/train/<class>/*.jpg      labeled images for the probe (and pretraining)
    root/test/<class>/*.jpg       labeled test images (classes: a subset of train's)
    root/unlabeled/**/*.jpg       optional: pretraining images without labels

    root/<class>/*.jpg            one folder: each file goes to test when the first
                                  8 hex digits of the SHA-1 of its path relative
                                  to root are 0 mod 5 (about 1 in 5, stable when
                                  files are added), else to train

Splits: ``train`` and ``test`` as above; ``unlabeled`` is ``root/unlabeled`` when
it exists, else the train images with their labels hidden (as for CIFAR-10).
Any number of classes (folder names, sorted) and any image sizes: every image is
cropped to its central square and resized (PIL bicubic, antialiased) to the
configured size; grayscale, palette, CMYK and RGBA images become RGB
(transparent pixels over white). Files with other suffixes and hidden files are
ignored. An unreadable image stops the load with an error naming the file, unless
``skip_bad=True`` (``Config.skip_bad_images``, CLI ``--skip-bad-images``) skips it
with a warning that counts and names the skipped files. An empty class folder or
a missing ``train``/``test`` folder is named in the error. Decoded splits are
cached like the other datasets, keyed by the folder's content fingerprint
(:mod:`focusmim.config.identity`).

Example:
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for split, cls, k in [("train", "cat", 3), ("train", "dog", 3), ("test", "cat", 1), ("test", "dog", 1)]:
    ...     (root / split / cls).mkdir(parents=True, exist_ok=True)
    ...     for i in range(k):
    ...         Image.new("L", (40, 48), 80 * i).save(root / split / cls / f"{i}.png")
    >>> from focusmim import data
    >>> ds = data.load("imagefolder", "train", root=root, image_size=16, cache_dir=False)
    >>> ds.images.shape, ds.classes, ds.labels.tolist()
    (torch.Size([6, 3, 16, 16]), ['cat', 'dog'], [0, 0, 0, 1, 1, 1])
    >>> survey(root)["counts"]
    {'train': 6, 'test': 2, 'unlabeled': 6}
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch

from .base import ImageSet, cache_key, cached, finish
from focusmim.config.identity import IMAGE_EXTS, fingerprint

__all__ = ["load_imagefolder", "split_files", "survey", "decode_image", "RESIZE"]

RESIZE = "central square crop, then bicubic resize (antialiased)"
UNLABELED = "unlabeled"


def _images_in(folder: Path, recursive: bool = False) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") and d.name != UNLABELED)


def _labeled(folder: Path, classes: list[str] | None = None) -> tuple[list[str], list[tuple[Path, int]]]:
    dirs = _class_dirs(folder)
    if not dirs:
        raise ValueError(f"{folder} holds no class folders; expected {folder}/<class>/<image files>")
    names = [d.name for d in dirs]
    if classes is not None:
        extra = sorted(set(names) - set(classes))
        if extra:
            raise ValueError(f"{folder} has class folder(s) {extra} that the train split lacks; "
                             f"allowed: classes among {classes}")
    classes = classes if classes is not None else names
    items = []
    for d in dirs:
        files = _images_in(d)
        if not files:
            raise ValueError(f"class folder {d} holds no images ({', '.join(IMAGE_EXTS)}); add images or remove it")
        items += [(p, classes.index(d.name)) for p in files]
    return classes, items


def split_files(root) -> tuple[str, list[str], dict[str, list[tuple[Path, int]]]]:
    """``(layout, classes, split -> [(path, label)])`` of an image folder (labels are
    -1 in ``unlabeled``); raises ``ValueError`` naming a missing split folder, an
    empty class folder or a folder without classes."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ValueError(f"data_root={str(root)!r} is not a folder; allowed: a folder of images (see "
                         "focusmim.data.imagefolder for the layouts)")
    has = {s: (root / s).is_dir() for s in ("train", "test")}
    if any(has.values()):
        missing = [s for s, ok in has.items() if not ok]
        if missing:
            raise ValueError(f"missing split folder {root / missing[0]} (the {missing[0]!r} split); expected "
                             f"{root}/train/<class>/* and {root}/test/<class>/*, or only {root}/<class>/* "
                             "(split 4:1 deterministically)")
        classes, train = _labeled(root / "train")
        _, test = _labeled(root / "test", classes)
        layout = "train/ and test/ folders"
    else:
        classes, items = _labeled(root)
        test_pick = [int(hashlib.sha1(p.relative_to(root).as_posix().encode()).hexdigest()[:8], 16) % 5 == 0
                     for p, _ in items]
        train = [it for it, t in zip(items, test_pick) if not t]
        test = [it for it, t in zip(items, test_pick) if t]
        layout = "one folder of classes, split 4:1 by file-name hash"
        for name, part in (("train", train), ("test", test)):
            if not part:
                raise ValueError(f"{root}: too few images to split deterministically (the {name!r} split is "
                                 f"empty); add images or use {root}/train/<class>/* and {root}/test/<class>/*")
    if (root / UNLABELED).is_dir():
        unl = [(p, -1) for p in _images_in(root / UNLABELED, recursive=True)]
        if not unl:
            raise ValueError(f"folder {root / UNLABELED} holds no images; add images or remove it")
        layout += ", unlabeled/ for pretraining"
    else:
        unl = [(p, -1) for p, _ in train]
    return layout, classes, {"train": train, "test": test, UNLABELED: unl}


def survey(root) -> dict:
    """What :func:`load_imagefolder` would read, from the file names alone (cheap):
    ``layout``, ``classes`` and per-split ``counts`` (for the plan)."""
    layout, classes, splits = split_files(root)
    return {"layout": layout, "classes": classes, "counts": {k: len(v) for k, v in splits.items()}}


def decode_image(path, size: int) -> torch.Tensor:
    """One image file as uint8 ``(3, size, size)``: converted to RGB (transparency over
    white), central square crop, bicubic resize. Raises ``OSError``/``ValueError`` for
    an unreadable file."""
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.load()  # a truncated or corrupt file fails here, not later
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        elif im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit / float grayscale: scale to 8 bits
            a = np.asarray(im, dtype=np.float64)
            hi = a.max() if a.size and a.max() > 0 else 1.0
            im = Image.fromarray((a * (255.0 / hi)).round().astype(np.uint8))
        im = ImageOps.fit(im.convert("RGB"), (size, size), Image.Resampling.BICUBIC)
        return torch.from_numpy(np.array(im)).permute(2, 0, 1).contiguous()


def _decode_all(items, size: int, root: Path, skip_bad: bool, split: str) -> tuple[list, list]:
    imgs, labels, bad = [], [], []
    for p, lab in items:
        try:
            imgs.append(decode_image(p, size))
            labels.append(lab)
        except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError, DecompressionBombError...
            bad.append((p, exc))
    if bad:
        names = ", ".join(f"{p} ({type(e).__name__}: {e})" for p, e in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        if not skip_bad:
            raise ValueError(f"{len(bad)} unreadable image file(s) in the {split!r} split of {root}: {names}{more}; "
                             "fix or delete them, or skip them with skip_bad_images=True (CLI --skip-bad-images)")
        warnings.warn(f"skipped {len(bad)} unreadable image file(s) of {len(items)} in the {split!r} split of "
                      f"{root}: {names}{more}", stacklevel=3)
    if not imgs:
        raise ValueError(f"no readable images in the {split!r} split of {root}")
    return imgs, labels


def load_imagefolder(split, *, image_size=None, root=None, download=False, n=None, seed=0, cache_dir=None,
                     skip_bad: bool = False) -> ImageSet:
    """The ``imagefolder`` entry of :data:`focusmim.data.REGISTRY` (see :func:`focusmim.data.load`).
    ``image_size=None`` keeps the images' size when they all share one square size."""
    if root is None:
        raise ValueError("dataset 'imagefolder' needs root= (Config.data_root, CLI --data-root): the folder "
                         "of your images")
    root = Path(root).expanduser()
    layout, classes, splits = split_files(root)
    items = splits[split]
    size = image_size
    if size is None:
        from PIL import Image

        sizes = set()
        for p, _ in items:
            try:
                with Image.open(p) as im:
                    sizes.add(im.size)
            except Exception:
                continue
        if len(sizes) != 1 or len({*next(iter(sizes))}) != 1:
            raise ValueError(f"images under {root} are not all one square size ({sorted(sizes)[:3]}...); "
                             "allowed: pass image_size= to resize them")
        size = next(iter(sizes))[0]
    fp = fingerprint("imagefolder", root)

    def build() -> ImageSet:
        imgs, labels = _decode_all(items, size, root, skip_bad, split)
        return ImageSet(torch.stack(imgs), torch.tensor(labels, dtype=torch.int64), classes, None, "imagefolder")

    key = cache_key("imagefolder", split, f"{size}px", fp, "skip" if skip_bad else "strict")
    ds = cached(key, build, cache_dir)
    return finish(ds, image_size=None, n=n, seed=seed)


from focusmim.config.schemas import DATASETS as REGISTRY  # noqa: E402

REGISTRY.register("imagefolder")(load_imagefolder)
