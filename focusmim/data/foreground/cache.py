"""Where foreground maps are cached, and the resumable chunk store that fills the cache.

A finished cache is one ``torch.save``d dict ``{"foreground", "fingerprint", "model",
"version", "backend"}``; while maps are being computed, finished chunks go to
``<cache>.parts/rows_<start>_<end>.pt`` beside a ``meta.json`` naming the images
(their fingerprint) and the model, so an interrupted run resumes where it stopped.
``backend`` records which path computed the maps (``"onnxruntime-u2netp"``: rembg's
onnxruntime session, ``"torch-u2netp"``: :mod:`focusmim.data.foreground.u2netp`; the
chunks' paths are kept in ``<cache>.parts/backends.json``, and a run resumed on
another path records both, joined by ``+``). Caches written before the field existed
lack it (they were all made by onnxruntime); the field is never compared, so the
backend does not invalidate a cache, and the cache's file name does not name it.
Every file is written with the package's one atomic writer (:mod:`focusmim.utils.io`).

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from focusmim.data.foreground.cache import ChunkStore, chunk_ranges
    >>> images = torch.zeros(5, 3, 8, 8, dtype=torch.uint8)
    >>> store = ChunkStore(Path(tempfile.mkdtemp()) / "toy.pt", images)
    >>> store.load_finished() is None
    True
    >>> out, done = store.load_parts()
    >>> chunk_ranges(~done, 2)
    [(0, 2), (2, 4), (4, 5)]
    >>> store.save_chunk(0, 2, torch.ones(2, 1, 8, 8, dtype=torch.uint8))
    >>> store.load_parts()[1].tolist()
    [True, True, False, False, False]
    >>> store.save_chunk(2, 5, torch.ones(3, 1, 8, 8, dtype=torch.uint8), backend="torch-u2netp")
    >>> store.backend()
    'torch-u2netp+unrecorded'
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from focusmim.data import cache_dir as data_cache_dir
from focusmim.utils.io import atomic_save, atomic_write_text

__all__ = ["MODEL_NAME", "CACHE_VERSION", "check_images", "fingerprint", "chunk_ranges", "foreground_cache_path", "ChunkStore"]

log = logging.getLogger(__name__)

MODEL_NAME = "u2netp"
CACHE_VERSION = 1
BACKENDS_FILE = "backends.json"  # in the parts folder: chunk name -> the backend that made it
UNRECORDED = "unrecorded"


def check_images(images, name: str = "images") -> None:
    """Raise ValueError naming ``name`` unless ``images`` is a uint8 tensor ``(N,3,H,W)``."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        desc = (
            f"a {images.dtype} tensor of shape {tuple(images.shape)}"
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise ValueError(f"{name} is {desc}; allowed: a uint8 tensor of shape (N,3,H,W)")


def fingerprint(images: torch.Tensor) -> str:
    """Hash of the image bytes and shape: a cache is valid for exactly these images.

    Example:
        >>> import torch
        >>> from focusmim.data.foreground.cache import fingerprint
        >>> a = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
        >>> fingerprint(a) == fingerprint(a.clone()), fingerprint(a) == fingerprint(a + 1)
        (True, False)
    """
    arr = images.detach().cpu().contiguous().numpy().reshape(-1)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(tuple(images.shape)).encode())
    h.update(memoryview(arr))
    return h.hexdigest()


def chunk_ranges(todo: np.ndarray, batch_size: int) -> list[tuple[int, int]]:
    """Row ranges ``[start, end)`` covering the True entries of ``todo``, at most ``batch_size`` long.

    Example:
        >>> import numpy as np
        >>> from focusmim.data.foreground.cache import chunk_ranges
        >>> chunk_ranges(np.array([True, True, False, True, True, True]), 2)
        [(0, 2), (3, 5), (5, 6)]
    """
    idx = np.flatnonzero(todo)
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    out = []
    for seg in np.split(idx, breaks):
        s, e = int(seg[0]), int(seg[-1]) + 1
        out += [(a, min(a + batch_size, e)) for a in range(s, e, batch_size)]
    return out


def foreground_cache_path(images: torch.Tensor, name: str = "", cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the maps of ``images`` are cached:
    ``<cache_dir>/foreground/<name>-<N>x<H>x<W>-<hash of the images>-u2netp.pt``
    (``cache_dir=None``: the dataset cache, :func:`focusmim.data.cache_dir`).

    Example:
        >>> import torch
        >>> from focusmim.data.foreground import foreground_cache_path
        >>> p = foreground_cache_path(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "toy", "/tmp/c")
        >>> p.parent.as_posix(), p.name.startswith("toy-2x8x8-")
        ('/tmp/c/foreground', True)
    """
    check_images(images)
    root = Path(cache_dir) if cache_dir is not None else Path(data_cache_dir())
    n, _, h, w = images.shape
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in (name or "images"))
    return root / "foreground" / f"{safe}-{n}x{h}x{w}-{fingerprint(images)[:16]}-{MODEL_NAME}.pt"


class ChunkStore:
    """The cache file ``path`` for ``images`` and its resumable ``<path>.parts/`` folder."""

    def __init__(self, path: str | os.PathLike, images: torch.Tensor):
        self.path = Path(path)
        self.parts = self.path.with_name(self.path.name + ".parts")
        self.images = images
        self.shape = (images.shape[0], 1, *images.shape[-2:])
        self.fingerprint = fingerprint(images)

    def load_finished(self) -> torch.Tensor | None:
        """The finished maps, or None when the cache is missing, unreadable or for other images."""
        if not self.path.is_file():
            return None
        try:
            obj = torch.load(self.path, map_location="cpu", weights_only=True)
            if obj.get("fingerprint") == self.fingerprint and tuple(obj["foreground"].shape) == self.shape:
                return obj["foreground"]
            log.warning("foreground cache %s was made from other images; recomputing", self.path)
        except Exception as err:  # unreadable cache: recompute
            log.warning("foreground cache %s is unreadable (%s); recomputing", self.path, err)
        return None

    def load_parts(self) -> tuple[torch.Tensor, np.ndarray]:
        """``(maps, done)``: the chunks finished so far (zeros elsewhere) and which rows they cover.

        A parts folder made for other images or another model is removed first."""
        n, _, h, w = self.shape
        meta = {"fingerprint": self.fingerprint, "shape": list(self.shape), "model": MODEL_NAME,
                "version": CACHE_VERSION}
        meta_file = self.parts / "meta.json"
        if self.parts.is_dir():
            try:
                old = json.loads(meta_file.read_text())
            except Exception:
                old = None
            if old != meta:
                shutil.rmtree(self.parts)
        if not self.parts.is_dir():
            self.parts.mkdir(parents=True)
            atomic_write_text(json.dumps(meta, sort_keys=True), meta_file)
        out = torch.zeros(self.shape, dtype=torch.uint8)
        done = np.zeros(n, dtype=bool)
        for f in sorted(self.parts.glob("rows_*.pt")):
            try:
                s, e = (int(v) for v in f.stem.split("_")[1:3])
                chunk = torch.load(f, map_location="cpu", weights_only=True)
            except Exception:
                continue
            if 0 <= s < e <= n and tuple(chunk.shape) == (e - s, 1, h, w) and chunk.dtype == torch.uint8:
                out[s:e] = chunk
                done[s:e] = True
        return out, done

    def save_chunk(self, start: int, end: int, chunk: torch.Tensor, backend: str | None = None) -> None:
        """Write the maps of rows ``[start, end)`` (atomically), made by ``backend``."""
        name = f"rows_{start:09d}_{end:09d}"
        atomic_save(chunk.clone(), self.parts / f"{name}.pt")
        made = self._backends()
        made[name] = backend or UNRECORDED
        atomic_write_text(json.dumps(made, sort_keys=True), self.parts / BACKENDS_FILE)

    def _backends(self) -> dict[str, str]:
        try:
            made = json.loads((self.parts / BACKENDS_FILE).read_text())
            return made if isinstance(made, dict) else {}
        except Exception:
            return {}

    def backend(self) -> str:
        """The backends that made the finished chunks, sorted and joined by ``+`` (``"unrecorded"``
        for chunks written without one)."""
        made = self._backends()
        names = {made.get(f.stem, UNRECORDED) for f in self.parts.glob("rows_*.pt")}
        return "+".join(sorted(names)) or UNRECORDED

    def finish(self, maps: torch.Tensor) -> None:
        """Write the finished cache file (with the backend that made its maps) and drop the parts folder."""
        atomic_save({"foreground": maps, "fingerprint": self.fingerprint, "model": MODEL_NAME,
                     "version": CACHE_VERSION, "backend": self.backend()}, self.path)
        shutil.rmtree(self.parts, ignore_errors=True)
