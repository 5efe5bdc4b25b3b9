"""What makes a stored run's file intact: the manifest's entries (size and checksum), the checks a run's
``metrics.json``, ``config.json`` and checkpoints must pass, and the errors that name a damaged file.

Example:
    >>> entry = _entry(b"abc")
    >>> _mismatch(entry, b"abc") is None, _mismatch(entry, b"abd")
    (True, 'sha256 checksum mismatch (same size, 3 bytes: contents changed)')
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import torch

from focusmim.utils.io import HASH, digest

_RUN_DIR = re.compile(r"^[0-9a-f]{16}(\.|$)")
MANIFEST = "manifest.json"
QUARANTINE = ".corrupt-"  # a damaged run's folder is renamed <key>.corrupt-<time>


class DamagedRunError(ValueError):
    """A stored file failed verification; ``path`` is the file, ``problem`` what was wrong."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}")


class DamagedRunWarning(UserWarning):
    """A damaged run was found, moved aside and is being resumed or recomputed."""


def _is_temporary(p: Path) -> bool:
    return p.name.startswith(".") and p.name.endswith(".tmp")



def _problem_file(problem: str) -> str:
    """The file name a problem line (``<path>: <what>``) starts with."""
    return Path(problem.split(": ", 1)[0]).name


def _entry(data: bytes) -> dict:
    return {"size": len(data), HASH: digest(data)}


def _entry_ok(e: Any) -> bool:
    return isinstance(e, dict) and isinstance(e.get("size"), int) and isinstance(e.get(HASH), str)


def _mismatch(entry: dict, data: bytes) -> str | None:
    """What is wrong with ``data`` given its manifest entry (None: it matches it or the
    previous version an interrupted write left in place)."""
    got = _entry(data)
    if any(e is not None and e["size"] == got["size"] and e[HASH] == got[HASH] for e in (entry, entry.get("prev"))):
        return None
    if got["size"] != entry["size"]:
        return f"{got['size']} bytes, the manifest says {entry['size']} (truncated or overwritten)"
    return f"{HASH} checksum mismatch (same size, {got['size']} bytes: contents changed)"


def _metrics_problem(m: Any) -> str | None:
    """Why ``m`` is not a run's metrics (None: it is)."""
    if not isinstance(m, dict):
        return f"not a metrics object (a JSON {type(m).__name__})"
    loss, done = m.get("loss"), m.get("epochs_done")
    if not isinstance(loss, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in loss):
        return "'loss' is not a list of finite numbers"
    if not isinstance(done, int) or isinstance(done, bool) or done != len(loss):
        return f"'epochs_done' ({done!r}) does not match the {len(loss)} losses"
    if not isinstance(m.get("finished", False), bool):
        return "'finished' is not true/false"
    return None


def _config_problem(c: Any) -> str | None:
    if not isinstance(c, dict) or not isinstance(c.get("objective"), str) or not isinstance(c.get("epochs"), int):
        return "not a run config (no 'objective' and 'epochs')"
    return None


def _non_finite(obj: Any, where: str = "") -> str | None:
    """The first tensor (by its path in ``obj``) holding NaN or infinity, else None."""
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and not bool(torch.isfinite(obj).all()):
            return f"{where or 'tensor'}: {int((~torch.isfinite(obj)).sum())} of {obj.numel()} values"
        return None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for k, v in items:
        bad = _non_finite(v, f"{where}.{k}" if where else str(k))
        if bad:
            return bad
    return None
