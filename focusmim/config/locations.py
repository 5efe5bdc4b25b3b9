"""Where each dataset's files are: ``$FOCUSMIM_DATA``, the ``shared/data`` folder beside the repository, the
download cache. The configuration layer reads this (a run's key holds its data's identity,
:mod:`focusmim.config.identity`); the data layer reads the files found here.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> find_cifar10(d) is None
    True
    >>> (d / "cifar10" / "train").mkdir(parents=True); (d / "cifar10" / "test").mkdir()
    >>> find_cifar10(d).name
    'cifar10'
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir", "default_download_root", "default_data_root", "DATA_FOLDERS", "IMAGENETTE_FOLDER",
           "is_split_tree", "find_imagenette", "find_cifar10", "find_stl10", "shown_path"]


def default_cache_dir() -> Path:
    """``$FOCUSMIM_CACHE`` when set, else ``~/.cache/focusmim``."""
    env = os.environ.get("FOCUSMIM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "focusmim"


def default_download_root(cache_dir) -> Path:
    """Where torchvision downloads go when no root is given: ``<cache>/torchvision``."""
    base = default_cache_dir() if cache_dir in (None, False, True) else Path(cache_dir)
    return base / "torchvision"


# a dataset's folder name under $FOCUSMIM_DATA or shared/data, where it is not the dataset's name
DATA_FOLDERS = {"imagenette": "imagenette96"}


def default_data_root(dataset: str) -> str | None:
    """Where to look for a dataset's files: ``$FOCUSMIM_DATA`` (a folder holding
    ``cifar10/`` and/or ``stl10/``, or the dataset folder itself), else the
    ``shared/data`` folder beside the repository when it exists."""
    env = os.environ.get("FOCUSMIM_DATA")
    folder = DATA_FOLDERS.get(dataset, dataset)
    candidates = []
    if env:
        candidates += [Path(env) / folder, Path(env)]
    repo = Path(__file__).resolve().parents[2]
    candidates += [repo.parent / "shared" / "data" / folder, repo / "shared" / "data" / folder]
    for c in candidates:
        if c.exists() and (c / "train").exists() or (c.exists() and dataset == "stl10"):
            return str(c)
    return None


IMAGENETTE_FOLDER = "imagenette96"


def is_split_tree(p: Path) -> bool:
    """Whether ``p`` holds ``train/`` and ``test/`` folders."""
    return (p / "train").is_dir() and (p / "test").is_dir()


def find_imagenette(root=None) -> Path | None:
    """The ``imagenette96`` folder (holding ``train/`` and ``test/``) at or under ``root``; with
    ``root=None``: ``$FOCUSMIM_DATA``, ``../shared/data``, then the cache (:mod:`focusmim.data.imagenette`).
    ``None`` when there is none.

        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> find_imagenette(d) is None
        True
        >>> (d / "imagenette96" / "train").mkdir(parents=True); (d / "imagenette96" / "test").mkdir()
        >>> find_imagenette(d).name
        'imagenette96'
    """
    if root is not None:
        root = Path(root).expanduser()
        for c in (root, root / IMAGENETTE_FOLDER):
            if is_split_tree(c):
                return c
        return None
    found = default_data_root("imagenette")
    if found is not None:
        return Path(found)
    cached = default_cache_dir() / IMAGENETTE_FOLDER
    return cached if is_split_tree(cached) else None


def find_cifar10(root) -> Path | None:
    """The ImageFolder root (holding ``train/`` and ``test/``) at or under ``root``, else ``None``."""
    if root is None:
        root = default_data_root("cifar10")
        if root is None:
            return None
    root = Path(root).expanduser()
    for c in (root, root / "cifar10"):
        if (c / "train").is_dir() and (c / "test").is_dir():
            return c
    return None


def find_stl10(root) -> Path | None:
    """The folder that holds ``stl10_binary/`` at or around ``root`` (or the default data root)."""
    if root is None:
        root = default_data_root("stl10")
        if root is None:
            return None
    root = Path(root).expanduser()
    for c in (root, root / "stl10", root.parent):
        if (c / "stl10_binary").is_dir() and (c != root.parent or root.name == "stl10_binary"):
            return c
    return None


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as a plan or a rendered page should name it: never the rendering machine's
    absolute location when the user did not type one.

    Under ``$FOCUSMIM_DATA``: ``$FOCUSMIM_DATA/...``; under the folder that holds the
    repository (where ``../shared/data`` lives): relative to the repository
    (``../shared/data/cifar10``); under the home folder: ``~/...``. A relative path is
    kept as typed, and any other absolute path is shown unchanged.

        >>> shown_path("../shared/data/cifar10"), shown_path("/mnt/data/stl10")
        ('../shared/data/cifar10', '/mnt/data/stl10')
        >>> repo = Path(__file__).resolve().parents[2]
        >>> shown_path(repo / "results" / "store")
        './results/store'
    """
    text = os.fspath(path)
    p = Path(text).expanduser()
    if not p.is_absolute():
        return text
    p = Path(os.path.normpath(p))
    env = os.environ.get("FOCUSMIM_DATA")
    repo = Path(__file__).resolve().parents[2]
    bases = []
    if env:
        bases.append((Path(os.path.abspath(Path(env).expanduser())), "$FOCUSMIM_DATA"))
    bases += [(repo, "."), (repo.parent, ".."), (Path.home(), "~")]
    for base, name in bases:
        if base.parent == base:  # never the filesystem's root
            continue
        for b in dict.fromkeys((base, base.resolve())):
            if p == b or b in p.parents:
                rest = p.relative_to(b).as_posix()
                return name if rest == "." else f"{name}/{rest}"
    return text
