"""The identity of a run's data: a fingerprint of the files a dataset is read from.

A run's key (:meth:`focusmim.config.Config.key`) must change when its data change,
or a run trained on 300 own images in a folder called ``cifar10`` would be reused
for real CIFAR-10. The fingerprint is content based and portable: the SHA-256 of
the sorted lines ``"<path relative to the dataset root> <md5 of the file>"`` over
the files the dataset's reader uses, so the same files give the same fingerprint
on every machine and under every folder name (sizes and modification times only
decide when a cached fingerprint must be recomputed).

Runs on a dataset's official data keep the keys they had before fingerprints
existed: :func:`key_fingerprint` returns ``None`` (nothing added to the key) when
the fingerprint is one of the dataset's :func:`canonical` ones (the official
CIFAR-10 as the repository's JPEG tree or as torchvision's python batches, the
official STL-10 binaries; both from the md5 lists torchvision publishes), and for
``synthetic``, whose identity is its generator version (already in the key). It
also returns ``None`` when the files are not there (a reader of stored runs
without the data; nothing can be trained without them).

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "a.txt").write_text("x")
    >>> fingerprint_entries([("a.txt", "9dd4e461268c8034f5c8564e155c67a6")])
    '0554a83048f8a947'
    >>> fingerprint_files(root, ["a.txt"])
    '0554a83048f8a947'
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

from focusmim.utils.io import atomic_write_text

from focusmim.config.locations import default_cache_dir, default_download_root
from focusmim.config.locations import find_cifar10 as cifar10_root
from focusmim.config.locations import find_imagenette as imagenette_root
from focusmim.config.locations import find_stl10 as stl10_root

__all__ = ["SYNTHETIC_VERSION", "fingerprint_entries", "fingerprint_files", "data_files", "fingerprint", "canonical",
           "key_fingerprint", "CIFAR10_JPEG_TREE"]

# The official CIFAR-10 as the ImageFolder tree of JPEGs the book's runs were trained on
# (train/<class>/*.jpg, test/<class>/*.jpg; 60,000 files), measured with fingerprint_files.
CIFAR10_JPEG_TREE = "0fbd1ad76c46ab6c"
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
_MEMO: dict[tuple, str | None] = {}
# The synthetic generator's version (focusmim.data.synthetic.VERSION): bump when its output changes. The identity
# of synthetic data, in every run key (version-1 runs were stored before the field).
SYNTHETIC_VERSION = 3


def fingerprint_entries(entries: Iterable[tuple[str, str]]) -> str:
    """16 hex digits of the SHA-256 of the sorted ``"relpath md5"`` lines."""
    text = "\n".join(sorted(f"{rel} {md5}" for rel, md5 in entries))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def fingerprint_files(root: str | os.PathLike, rels: Sequence[str] | Callable[[], Sequence[str]],
                      cache: bool = True, signature=None) -> str:
    """The fingerprint of the files ``rels`` (POSIX paths relative to ``root``, or a
    function listing them, called only when the cache cannot answer).

    Hashing every file's content is done once per state of the files: the result
    is cached under ``$FOCUSMIM_CACHE/fingerprints/`` by ``signature`` (default:
    the files' paths, sizes and modification times; for large trees
    :func:`tree_signature`, the folders' modification times, which change when a
    file is added, removed or renamed; after editing files in place, delete
    ``$FOCUSMIM_CACHE/fingerprints``)."""
    root = Path(root)
    if signature is None:
        rels = sorted(rels() if callable(rels) else rels)
        signature = [(r, *(lambda s: (s.st_size, s.st_mtime_ns))((root / r).stat())) for r in rels]
    sig = hashlib.sha256(json.dumps([str(root.resolve()), signature]).encode()).hexdigest()[:24]
    path = default_cache_dir() / "fingerprints" / f"{sig}.json"
    if cache and path.exists():
        try:
            return json.loads(path.read_text())["fingerprint"]
        except (OSError, ValueError, KeyError):
            pass  # unreadable: recompute
    rels = sorted(rels() if callable(rels) else rels)
    fp = fingerprint_entries((r, _md5(root / r)) for r in rels)
    if cache:
        try:
            atomic_write_text(json.dumps({"root": str(root), "files": len(rels), "fingerprint": fp}), path)
        except OSError:
            pass  # a read-only cache must not stop the work
    return fp


def _image_files(folder: Path) -> list[str]:
    """Image files under ``folder`` (recursively, hidden ones left out), as sorted POSIX relative paths."""
    out = []
    for d, dirs, files in os.walk(folder):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        rel = Path(d).relative_to(folder)
        out += [(rel / f).as_posix() for f in files if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTS]
    return sorted(out)


def tree_signature(folder: str | os.PathLike) -> list:
    """``[relative folder, mtime_ns]`` of ``folder`` and every folder under it (cheap: no file is stat'ed)."""
    folder = Path(folder)
    return [[Path(d).relative_to(folder).as_posix(), os.stat(d).st_mtime_ns] for d, dirs, _ in os.walk(folder)
            if not dirs.sort()]


def data_files(dataset: str, root=None, download: bool = False):
    """``(root, relative paths)`` of the files ``dataset``'s reader uses for ``root``
    (as :func:`focusmim.data.load` resolves it), or ``None`` when there are none
    (synthetic data, or files not present). For folder trees (``imagefolder``, the
    CIFAR-10 JPEG tree) the paths come as a function that lists them."""
    if dataset == "synthetic":
        return None
    if dataset == "imagefolder":
        if root is None or not Path(root).expanduser().is_dir():
            return None
        folder = Path(root).expanduser()
        return folder, lambda: _image_files(folder)
    if dataset == "imagenette":
        tree = imagenette_root(root)
        return None if tree is None else (tree, lambda: _image_files(tree))
    if dataset == "cifar10":
        tree = cifar10_root(root)
        if tree is not None:
            return tree, lambda: sorted(f"{s}/{r}" for s in ("train", "test") for r in _image_files(tree / s))
        from torchvision.datasets import CIFAR10

        base = (Path(root).expanduser() if root is not None else default_download_root(None)) / CIFAR10.base_folder
        names = [n for n, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
        present = [n for n in names if (base / n).is_file()]
        return (base, present) if present else None
    if dataset == "stl10":
        from torchvision.datasets import STL10

        tree = stl10_root(root)
        if tree is None:
            return None
        base = tree / STL10.base_folder
        present = [n for n, _ in STL10.train_list + STL10.test_list if (base / n).is_file()]
        return (base, present) if present else None
    raise ValueError(f"dataset={dataset!r} is not allowed; allowed: 'synthetic', 'cifar10', 'stl10', 'imagefolder', "
                     "'imagenette'")


def fingerprint(dataset: str, root=None, download: bool = False) -> str | None:
    """The fingerprint of ``dataset``'s files at ``root`` (``None``: synthetic, or no files).
    Memoised per process by ``(dataset, root)``."""
    memo_key = (dataset, None if root is None else str(Path(root).expanduser().resolve()),
                os.environ.get("FOCUSMIM_DATA"))
    if memo_key not in _MEMO:
        found = data_files(dataset, root, download)
        if found is None:
            _MEMO[memo_key] = None
        else:
            folder, rels = found
            _MEMO[memo_key] = fingerprint_files(folder, rels, signature=tree_signature(folder) if callable(rels) else None)
    return _MEMO[memo_key]


def canonical(dataset: str) -> set[str]:
    """The fingerprints of ``dataset``'s official data (runs on them keep their old keys)."""
    if dataset == "cifar10":
        from torchvision.datasets import CIFAR10

        tv = CIFAR10.train_list + CIFAR10.test_list + [[CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]
        return {CIFAR10_JPEG_TREE, fingerprint_entries((n, m) for n, m in tv)}
    if dataset == "stl10":
        from torchvision.datasets import STL10

        return {fingerprint_entries((n, m) for n, m in STL10.train_list + STL10.test_list)}
    return set()


def key_fingerprint(cfg) -> str | None:
    """What :meth:`~focusmim.config.Config.key` adds for ``cfg``'s data: its fingerprint,
    or ``None`` when the data are the dataset's official ones, synthetic, or absent."""
    root = cfg.data_root
    if cfg.dataset == "imagenette" and root is not None and not Path(root).expanduser().is_dir():
        root = None  # a config stored on another machine (its data folder is elsewhere): the data found here
    fp = fingerprint(cfg.dataset, root, cfg.download)
    return None if fp is None or fp in canonical(cfg.dataset) else fp
