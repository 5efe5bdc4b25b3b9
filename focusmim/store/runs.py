"""Content-addressed run store: a finished run is data, found again by its config.

Layout of one run (``<root>/<config key>/``)::

    config.json        the full Config (never overwritten by a different one)
    metrics.json       per-epoch curves and run facts (wall time, device, versions, finished)
    metrics.csv        the training log: one row per epoch (written with metrics.json, :func:`metrics_csv`)
    last.pt            model + optimiser state after the last complete epoch (for resume)
    best.pt            weights with the lowest epoch training loss (the paper's choice for probing)
    epoch0010.pt ...   weights kept at ``Config.snapshot_epochs``
    probe-*.json       cached evaluation results
    *.npz              cached arrays (example images, maps), dtype and shape kept
    tensorboard/       TensorBoard event files, when the run was trained with ``Config.tensorboard``
                       (not in the manifest: a log for watching, not data)

A run whose ``best.pt`` is not here (the book's store keeps no weights) loads the zoo's model
exported from it, when the zoo has one (:mod:`focusmim.store.zoo`; :meth:`Run.load_model`).

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
import time
import warnings
from pathlib import Path
from typing import Any

import filelock

from focusmim.config import Config, ConfigError
from focusmim.utils.io import check_writable

from .checkpoints import RunCheckpoints
from .files import CSV_COLUMNS, RunFiles, metrics_csv  # noqa: F401
from .integrity import (_RUN_DIR, MANIFEST, QUARANTINE, DamagedRunError, DamagedRunWarning,  # noqa: F401
                        _is_temporary, _problem_file)

__all__ = ["RunStore", "Run", "default_root", "DamagedRunError", "DamagedRunWarning", "MANIFEST", "metrics_csv",
           "CSV_COLUMNS"]


def default_root() -> Path:
    """``$FOCUSMIM_RUNS`` if set, else ``runs/`` at the repository root."""
    env = os.environ.get("FOCUSMIM_RUNS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "runs"


class Run(RunCheckpoints):
    """One run's folder: its config, metrics and checkpoints, each verified when read (files: :mod:`.files`,
    weights: :mod:`.checkpoints`). ``outcome`` is set by :func:`~focusmim.training.train.pretrain`: 'reused',
    'resumed' or 'trained'."""

    outcome: str | None = None

    def cached_json_or_older(self, name: str, compute, older: str, note: str) -> Any:
        """:meth:`cached_json` (or :meth:`cached_arrays` for an ``.npz`` name), except that when ``name`` is not cached and this run's
        weights are not here to compute it (the book's store keeps no checkpoints), an
        ``older`` cached evaluation is returned with ``note`` under the key ``"older"``
        (say what differs), so that a figure can show it and say so. Without either,
        computing fails with the missing checkpoint's error.

        Example:
            >>> import tempfile
            >>> from focusmim.config import make_config
            >>> run = RunStore(tempfile.mkdtemp()).open(make_config("smoke"))
            >>> run.save_json("ex-old.json", {"x": 1})
            >>> run.cached_json_or_older("ex-new.json", lambda: {"x": 2}, "ex-old.json", "older selection")
            {'x': 1, 'older': 'older selection'}
        """
        if not (self.dir / name).exists() and not self.has_model("best") \
                and not self.checkpoint_path("last").exists() and (self.dir / older).exists():
            return dict(self.load_json(older), older=note)
        return self.cached_arrays(name, compute) if name.endswith(".npz") else self.cached_json(name, compute)

    def __repr__(self) -> str:
        m = self.metrics
        return f"Run({self.dir.name}, epochs_done={m.get('epochs_done', 0)}, finished={m.get('finished', False)})"


class RunStore:
    """Runs keyed by ``Config.key()`` under one root folder."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path(self, cfg: Config) -> Path:
        return self.root / cfg.key()

    def check_writable(self, cfg: Config) -> Path:
        """Raise :class:`~focusmim.utils.io.WriteError` (folder + OS error) unless the run's
        folder can be written; called before any data is loaded."""
        return check_writable(self.path(cfg))

    def open(self, cfg: Config) -> Run:
        """Open (creating if needed) the run for ``cfg``: leftover temporary files are
        removed and a damaged run is moved aside first (see the module docstring).
        Refuses a folder whose stored config differs (a finished run is never overwritten)."""
        d = self.path(cfg)
        if d.is_dir():
            self._checked(Run(d, cfg))
        check_writable(d)
        run = Run(d, cfg)
        for p in run.temporary_files():
            p.unlink(missing_ok=True)
        stored = run.load_json("config.json")
        if stored is not None:
            if _comparable(_normalised(stored)) != _comparable(cfg.to_dict()):
                raise ConfigError(f"run folder {d} holds a different config; refusing to overwrite it")
        else:
            run.save_json("config.json", cfg.to_dict())
        return run

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
        """The finished, intact run for ``cfg``, or None (a damaged one is moved aside first)."""
        d = self.path(cfg)
        if not d.is_dir():
            return None
        run = self._checked(Run(d, cfg))
        return run if run is not None and run.finished else None

    def runs(self) -> list[Run]:
        """Every run in the store (finished or not); a run whose config cannot be read
        is skipped with a warning naming it (``store verify`` reports it)."""
        out = []
        if not self.root.exists():
            return out
        for d in self._run_dirs():
            if QUARANTINE in d.name or not (d / "config.json").exists():
                continue
            try:
                out.append(Run(d, Config.from_dict(Run(d, None).load_json("config.json"))))
            except (DamagedRunError, ValueError, TypeError) as exc:
                warnings.warn(f"skipping run {d}: {exc}", DamagedRunWarning, stacklevel=2)
        return out

    def _run_dirs(self) -> list[Path]:
        """The run folders (named by a config key, maybe with a quarantine suffix); the
        store's other folders (``.locks``, ``.jobs``, ``tables``, ``main``) are not runs."""
        return sorted(p for p in self.root.iterdir() if p.is_dir() and _RUN_DIR.match(p.name))

    def verify(self) -> list[dict]:
        """One row per run folder: ``{"run", "status", "detail"}`` with status ``ok``, ``legacy``
        (no manifest), ``damaged`` or ``quarantined`` (a damaged run kept aside)."""
        rows = []
        if not self.root.exists():
            return rows
        for d in self._run_dirs():
            if QUARANTINE in d.name:
                rows.append({"run": d.name, "status": "quarantined", "detail": "a damaged run kept aside"})
                continue
            problems, notes = Run(d, None).verify()
            status = "damaged" if problems else ("legacy" if any(n.startswith("no manifest") for n in notes)
                                                 else "ok")
            rows.append({"run": d.name, "status": status, "detail": "; ".join(problems + notes)})
        return rows

    def gc(self) -> list[Path]:
        """Remove leftover temporary files of interrupted writes; returns their paths."""
        gone = []
        if self.root.exists():
            for d in [self.root, *self._run_dirs()]:
                for p in Run(d, None).temporary_files():
                    p.unlink(missing_ok=True)
                    gone.append(p)
        return gone

    def _checked(self, run: Run) -> Run | None:
        """``run`` if it verifies; else move it aside, carry over its intact files when
        every checkpoint is intact (so training resumes from ``last.pt``), warn, and
        return the carried-over run (or None: it will be recomputed)."""
        problems, _ = run.verify()
        if not problems:
            return run
        aside = run.dir.with_name(f"{run.dir.name}{QUARANTINE}{time.strftime('%Y%m%d-%H%M%S')}")
        while aside.exists():
            aside = aside.with_name(aside.name + "x")
        os.replace(run.dir, aside)
        damaged = {_problem_file(p) for p in problems}
        keep = sorted(p.name for p in aside.iterdir() if p.is_file() and p.name != MANIFEST
                      and not _is_temporary(p) and p.name not in damaged)
        resumable = "last.pt" in keep and not any(n.endswith(".pt") for n in damaged)
        what = "resuming it from its intact last.pt" if resumable else "it will be recomputed"
        warnings.warn(f"run {run.dir} is damaged ({'; '.join(problems)}); moved aside to {aside.name}; {what}",
                      DamagedRunWarning, stacklevel=3)
        if not resumable:
            return None
        new = Run(run.dir, run.config)
        run.dir.mkdir()
        for name in keep:
            new.write_bytes(name, (aside / name).read_bytes())
        if "config.json" not in keep and run.config is not None:
            new.save_json("config.json", run.config.to_dict())
        return new


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


def _normalised(stored: Any) -> Any:
    """A stored config with the fields added since it was written at their defaults (a run
    stored before a field existed is the same experiment as one with that field's default,
    as its key says); left as it is when it does not read as a Config."""
    try:
        return Config.from_dict(stored).to_dict()
    except (ConfigError, TypeError, ValueError, AttributeError):
        return stored


def _comparable(d: dict) -> dict:
    d = dict(d)
    for k in ("data_root", "download", "device", "skip_bad_images", "tensorboard"):
        d.pop(k, None)
    return json.loads(json.dumps(d, sort_keys=True, default=str))
