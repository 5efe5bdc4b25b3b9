"""Crash-safe file writes: write to a temporary file in the same folder, flush,
fsync, then ``os.replace`` it over the target, so a reader never sees a
half-written file (an interrupted run leaves the old file or none at all).

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from focusmim.io import atomic_save, atomic_write_text
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = atomic_save({"x": torch.arange(3)}, d / "blob.pt")
    >>> torch.load(d / "blob.pt")["x"].tolist()
    [0, 1, 2]
    >>> atomic_write_text("hello", d / "note.txt").read_text()
    'hello'
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["atomic_save", "atomic_write_text", "atomic_write"]


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, mode: str = "wb") -> Path:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then move it into place.

    The parent folder is created when missing. ``mode`` is ``"wb"`` or ``"w"``.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode={mode!r} is not allowed; allowed: 'wb', 'w'")
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValueError(f"path={path!r} is not allowed; allowed: a non-empty file path")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` atomically; returns the path."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f), mode="wb")


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str; got {type(text).__name__}")
    return atomic_write(path, lambda f: f.write(text), mode="w")
