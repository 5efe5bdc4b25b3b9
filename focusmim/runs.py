"""Content-addressed run store: a finished run is data, found again by its config.

Layout of one run (``<root>/<config key>/``)::

    config.json        the full Config (never overwritten by a different one)
    metrics.json       per-epoch curves and run facts (wall time, device, versions, finished)
    last.pt            model + optimiser state after the last complete epoch (for resume)
    best.pt            weights with the lowest epoch training loss (the paper's choice for probing)
    epoch0010.pt ...   weights kept at ``Config.snapshot_epochs``
    probe-*.json       cached evaluation results

Every write is atomic (temporary file + ``os.replace``), so a run killed at any
point leaves either the old file or the new one, never half of one. A worker
training a run holds its lock, ``<root>/.locks/<config key>.lock`` (an OS file lock
through ``filelock``, released when the process dies, even by ``kill -9``), so
workers sharing a store never train the same run twice at once.

Example:
    >>> import tempfile
    >>> from focusmim.config import make_config
    >>> store = RunStore(tempfile.mkdtemp())
    >>> cfg = make_config("smoke")
    >>> run = store.open(cfg)
    >>> run.finished, run.dir.name == cfg.key()
    (False, True)
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import filelock
import torch

from focusmim.config import Config, ConfigError
from focusmim.io import atomic_save, atomic_write_text

__all__ = ["RunStore", "Run", "default_root"]


def default_root() -> Path:
    """``$FOCUSMIM_RUNS`` if set, else ``runs/`` at the repository root."""
    env = os.environ.get("FOCUSMIM_RUNS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "runs"


class Run:
    """One run's folder: its config, metrics and checkpoints. ``outcome`` is set by
    :func:`~focusmim.train.pretrain`: 'reused', 'resumed' or 'trained'."""

    outcome: str | None = None

    def __init__(self, directory: Path, config: Config):
        self.dir = Path(directory)
        self.config = config

    # -------------------------------------------------------------- metrics
    @property
    def metrics_path(self) -> Path:
        return self.dir / "metrics.json"

    @property
    def metrics(self) -> dict:
        return self.load_json("metrics.json") or {}

    @property
    def finished(self) -> bool:
        return bool(self.metrics.get("finished", False))

    def load_json(self, name: str) -> Any:
        p = self.dir / name
        if not p.exists():
            return None
        return json.loads(p.read_text())

    def save_json(self, name: str, obj: Any) -> None:
        atomic_write_text(json.dumps(obj, indent=1, sort_keys=True, default=_jsonable), self.dir / name)

    def cached_json(self, name: str, compute) -> Any:
        """``compute()`` once, stored as ``name`` (a .json file) in the run's folder;
        later calls read it back. For evaluations that need the trained model, so
        a reader without the checkpoint (or without a GPU) still gets the numbers."""
        if not name.endswith(".json"):
            raise ValueError(f"name={name!r} is not allowed; allowed: a file name ending in .json")
        got = self.load_json(name)
        if got is None:
            got = compute()
            self.save_json(name, got)
            got = self.load_json(name)
        return got

    # ---------------------------------------------------------- checkpoints
    def checkpoint_path(self, which: str | int) -> Path:
        if isinstance(which, int) and not isinstance(which, bool):
            return self.dir / f"epoch{which:04d}.pt"
        if which not in ("best", "last"):
            raise ValueError(f"which={which!r} is not allowed; allowed: 'best', 'last', or an epoch number")
        return self.dir / f"{which}.pt"

    def save_checkpoint(self, which: str | int, state: dict) -> None:
        atomic_save(state, self.checkpoint_path(which))

    def load_checkpoint(self, which: str | int, map_location: str = "cpu") -> dict:
        p = self.checkpoint_path(which)
        if not p.exists():
            have = sorted(x.name for x in self.dir.glob("*.pt"))
            raise FileNotFoundError(f"no checkpoint {p.name} in {self.dir}; present: {have}")
        return torch.load(p, map_location=map_location, weights_only=False)

    def load_model(self, which: str | int = "best", device: str = "cpu") -> torch.nn.Module:
        """The trained model in eval mode (``which``: 'best', 'last' or a snapshot epoch)."""
        from focusmim import models

        state = self.load_checkpoint(which, map_location=device)
        model = models.build_for_config(self.config)
        # best.pt and snapshots hold {"model": ...}; last.pt holds every module of the objective
        model.load_state_dict(state["model"] if "model" in state else state["modules"]["model"])
        return model.to(device).eval()

    def __repr__(self) -> str:
        m = self.metrics
        return f"Run({self.dir.name}, epochs_done={m.get('epochs_done', 0)}, finished={m.get('finished', False)})"


class RunStore:
    """Runs keyed by ``Config.key()`` under one root folder."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path(self, cfg: Config) -> Path:
        return self.root / cfg.key()

    def open(self, cfg: Config) -> Run:
        """Open (creating if needed) the run for ``cfg``. Refuses a folder whose
        stored config differs (a finished run is never overwritten)."""
        d = self.path(cfg)
        d.mkdir(parents=True, exist_ok=True)
        cpath = d / "config.json"
        if cpath.exists():
            stored = json.loads(cpath.read_text())
            if _comparable(stored) != _comparable(cfg.to_dict()):
                raise ConfigError(f"run folder {d} holds a different config; refusing to overwrite it")
        else:
            atomic_write_text(json.dumps(cfg.to_dict(), indent=1, sort_keys=True), cpath)
        return Run(d, cfg)

    def lock(self, cfg: Config) -> filelock.BaseFileLock:
        """The per-run lock (use as ``with store.lock(cfg): ...``): an OS file lock on
        ``<root>/.locks/<key>.lock``, released by the OS if its holder dies. Acquiring
        it while another process holds it prints one line and waits.

            >>> import tempfile
            >>> from focusmim.config import make_config
            >>> store = RunStore(tempfile.mkdtemp())
            >>> with store.lock(make_config("smoke")) as held:
            ...     held.is_locked
            True
        """
        path = self.root / ".locks" / f"{cfg.key()}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return _WaitingLock(str(path))

    def get(self, cfg: Config) -> Run | None:
        """The finished run for ``cfg``, or None."""
        d = self.path(cfg)
        if not (d / "config.json").exists():
            return None
        run = Run(d, cfg)
        return run if run.finished else None

    def runs(self) -> list[Run]:
        """Every run in the store (finished or not)."""
        out = []
        if not self.root.exists():
            return out
        for d in sorted(self.root.iterdir()):
            c = d / "config.json"
            if c.exists():
                out.append(Run(d, Config.from_dict(json.loads(c.read_text()))))
        return out


class _WaitingLock(filelock.FileLock):
    """A file lock that says once on stderr that it waits for another worker."""

    def acquire(self, timeout: float | None = None, poll_interval: float = 0.05, **kw):
        if timeout is None and not self.is_locked:
            try:
                return super().acquire(timeout=0, poll_interval=poll_interval, **kw)
            except filelock.Timeout:
                print(f"run {Path(self.lock_file).stem}: another worker holds {self.lock_file}; waiting",
                      file=sys.stderr, flush=True)
        return super().acquire(timeout=timeout, poll_interval=poll_interval, **kw)


def _comparable(d: dict) -> dict:
    d = dict(d)
    for k in ("data_root", "download", "device"):
        d.pop(k, None)
    return json.loads(json.dumps(d, sort_keys=True, default=str))


def _jsonable(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
