"""Crash-safe file writes: write to a temporary file in the same folder, flush,
fsync, then ``os.replace`` it over the target, so a reader never sees a
half-written file (an interrupted run leaves the old file or none at all).

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from focusmim.utils.io import atomic_save, atomic_write_text
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = atomic_save({"x": torch.arange(3)}, d / "blob.pt")
    >>> torch.load(d / "blob.pt")["x"].tolist()
    [0, 1, 2]
    >>> atomic_write_text("hello", d / "note.txt").read_text()
    'hello'
    >>> digest(b"hello")[:12]
    '2cf24dba5fb0'

A write that fails (disk full, read-only folder) raises :class:`WriteError`, one line
naming the file's folder and the operating system's reason, and leaves the old file
(and no temporary file) behind.
"""
from __future__ import annotations

import errno as _errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["atomic_save", "atomic_write_text", "atomic_write", "atomic_write_bytes", "digest", "file_digest",
           "check_writable", "WriteError", "HASH"]

HASH = "sha256"  # 6 MB checkpoint: 19 ms with sha256, 29 ms with blake2b on this project's CPUs


class WriteError(OSError):
    """A file could not be written: the message names the folder and the OS error
    (``errno`` is the underlying one, e.g. ``errno.ENOSPC`` or ``errno.EROFS``)."""

    def __str__(self) -> str:  # the one-line message, not OSError's "[Errno n] ..." form
        return str(self.args[0])


def _write_error(path: Path, exc: BaseException) -> WriteError | None:
    """A :class:`WriteError` for the first OSError in ``exc``'s chain, else None."""
    seen = exc
    while seen is not None and not isinstance(seen, OSError):
        seen = seen.__cause__ or seen.__context__
    if seen is None or isinstance(seen, WriteError):
        return None
    reason = seen.strerror or str(seen)
    hint = {_errno.ENOSPC: " (free some space or point the store elsewhere)",
            _errno.EROFS: " (the file system is mounted read-only)"}.get(seen.errno, "")
    err = WriteError(f"cannot write {path.name} in folder {path.parent}: {reason}{hint}")
    err.errno, err.strerror, err.filename = seen.errno, reason, str(path.parent)
    return err


def digest(data: bytes) -> str:
    """The checksum (:data:`HASH`, hex) of ``data``."""
    return hashlib.new(HASH, data).hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """The checksum (:data:`HASH`, hex) of a file's bytes, read in chunks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, HASH).hexdigest()


def check_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and write (then remove) a small probe file in it,
    so a read-only or full file system is reported before any work starts.

        >>> import tempfile
        >>> check_writable(tempfile.mkdtemp()).is_dir()
        True
    """
    folder = Path(folder)
    probe = folder / ".write-probe.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(b"\0" * 4096)
                f.flush()
                os.fsync(f.fileno())
        finally:
            os.unlink(tmp)
    except OSError as exc:
        raise _write_error(probe, exc) or exc from exc
    return folder


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, mode: str = "wb",
                 before_replace: Callable[[], None] | None = None) -> Path:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then move it into place.

    The parent folder is created when missing. ``mode`` is ``"wb"`` or ``"w"``.
    ``before_replace()`` runs once the temporary file is complete on disk and before it
    replaces ``path`` (the run store records the new file's checksum there); if it
    raises, ``path`` is left as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode={mode!r} is not allowed; allowed: 'wb', 'w'")
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise ValueError(f"path={path!r} is not allowed; allowed: a non-empty file path")
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        err = _write_error(path, exc) if isinstance(exc, Exception) else None
        if err is not None:
            raise err from exc
        raise
    return path


def atomic_write_bytes(data: bytes, path: str | os.PathLike, *,
                       before_replace: Callable[[], None] | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    return atomic_write(path, lambda f: f.write(data), mode="wb", before_replace=before_replace)


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` atomically; returns the path."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f), mode="wb")


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str; got {type(text).__name__}")
    return atomic_write(path, lambda f: f.write(text), mode="w")
