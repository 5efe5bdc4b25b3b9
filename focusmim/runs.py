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
exported from it, when the zoo has one (:mod:`focusmim.zoo`; :meth:`Run.load_model`).

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

import io
import json
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import torch

from focusmim import models, zoo
from focusmim.config import Config, ConfigError
from focusmim.io import HASH, atomic_write_bytes, check_writable, digest

__all__ = ["RunStore", "Run", "default_root", "DamagedRunError", "DamagedRunWarning", "MANIFEST", "metrics_csv",
           "CSV_COLUMNS"]

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


def default_root() -> Path:
    """``$FOCUSMIM_RUNS`` if set, else ``runs/`` at the repository root."""
    env = os.environ.get("FOCUSMIM_RUNS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "runs"


class Run:
    """One run's folder: its config, metrics and checkpoints, each verified when read.
    ``outcome`` is set by :func:`~focusmim.train.pretrain`: 'reused', 'resumed' or 'trained'."""

    outcome: str | None = None

    def __init__(self, directory: Path, config: Config | None):
        self.dir = Path(directory)
        self.config = config

    # ------------------------------------------------------------- manifest
    def manifest(self) -> dict | None:
        """``{name: {"size", "sha256"[, "prev"]}}`` from ``manifest.json``; None for a legacy run."""
        p = self.dir / MANIFEST
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            return None
        try:
            m = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DamagedRunError(p, f"unparsable JSON ({exc})") from None
        files = m.get("files") if isinstance(m, dict) else None
        if not isinstance(files, dict) or not all(_entry_ok(e) for e in files.values()):
            raise DamagedRunError(p, "not a manifest (expected {'files': {name: {'size', '%s'}}})" % HASH)
        return files

    def read_bytes(self, name: str) -> bytes | None:
        """The bytes of ``name`` (None when absent), checked against the manifest."""
        p = self.dir / name
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            return None
        files = self.manifest()
        if files is not None and name in files:
            problem = _mismatch(files[name], data)
            if problem:
                raise DamagedRunError(p, problem)
        return data

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write ``name`` atomically, recording its size and checksum in the manifest
        before it replaces the old file (see the module docstring)."""
        path = self.dir / name
        files = self.manifest()
        if files is None:  # a fresh or legacy run: adopt what is there as it is
            files = {}
            if self.dir.is_dir():
                for q in sorted(self.dir.iterdir()):
                    if q.is_file() and q.name != MANIFEST and not _is_temporary(q):
                        files[q.name] = _entry(q.read_bytes())
        old = files.get(name)
        files = {k: {f: v for f, v in e.items() if f != "prev"} for k, e in files.items()}
        new = _entry(data)
        new["prev"] = None if old is None else {f: old[f] for f in ("size", HASH)}
        files[name] = new
        listed = dict(files)  # with "prev": the manifest written before the file is replaced
        atomic_write_bytes(data, path, before_replace=lambda: self._write_manifest(listed))
        files[name] = {f: v for f, v in new.items() if f != "prev"}  # replaced: only the new file is valid now
        self._write_manifest(files)
        return path

    def _write_manifest(self, files: dict) -> None:
        text = json.dumps({"version": 1, "hash": HASH, "files": files}, indent=1, sort_keys=True)
        atomic_write_bytes(text.encode(), self.dir / MANIFEST)

    def remove(self, name: str) -> None:
        """Delete the file ``name`` of this run and its manifest entry (the entry first: a crash in
        between leaves an unlisted file, which verification adopts, never a listed file that is gone).

            >>> import tempfile
            >>> from focusmim.config import make_config
            >>> run = RunStore(tempfile.mkdtemp()).open(make_config("smoke"))
            >>> run.save_json("ex.json", {"x": 1}); run.remove("ex.json")
            >>> (run.dir / "ex.json").exists(), "ex.json" in run.manifest()
            (False, False)
        """
        files = self.manifest()
        if files is not None and name in files:
            del files[name]
            self._write_manifest(files)
        (self.dir / name).unlink(missing_ok=True)

    def temporary_files(self) -> list[Path]:
        """Leftovers of writes that were interrupted (``.<name>.*.tmp``)."""
        return sorted(p for p in self.dir.glob(".*.tmp") if p.is_file()) if self.dir.is_dir() else []

    def verify(self) -> tuple[list[str], list[str]]:
        """``(problems, notes)``: every problem names a file and what is wrong with it;
        notes say what is fine but worth knowing (legacy run, weights not kept, leftovers).

            >>> import tempfile
            >>> from focusmim.config import make_config
            >>> run = RunStore(tempfile.mkdtemp()).open(make_config("smoke"))
            >>> run.verify()
            ([], [])
        """
        problems, notes = [], []
        try:
            files = self.manifest()
        except DamagedRunError as exc:
            problems.append(str(exc))
            files = None
        if files is None and not problems:
            notes.append("no manifest (legacy run: JSON parsed, weights checked finite)")
        present = sorted(p.name for p in self.dir.iterdir() if p.is_file() and p.name != MANIFEST
                         and not _is_temporary(p))
        for name, entry in sorted((files or {}).items()):
            if name in present:
                continue
            if entry.get("prev", "") is None:
                continue  # the first write of this file was interrupted before its rename
            if name.endswith(".pt"):
                notes.append(f"{name} absent (weights not kept)")
            else:
                problems.append(f"{self.dir / name}: missing (listed in {MANIFEST})")
        for name in present:
            if files is not None and name not in files:
                notes.append(f"{name} not listed in {MANIFEST} (checked as legacy)")
            try:
                if name.endswith(".json"):
                    self.load_json(name)
                elif name.endswith(".pt"):
                    if files is None or name not in files:
                        self._load_pt(self.dir / name, "cpu")
                    else:
                        self.read_bytes(name)
            except DamagedRunError as exc:
                problems.append(str(exc))
        if "config.json" not in present and files is not None and "config.json" not in files:
            problems.append(f"{self.dir / 'config.json'}: missing")
        tmp = self.temporary_files()
        if tmp:
            notes.append(f"{len(tmp)} temporary file(s) left over ({sum(p.stat().st_size for p in tmp)} bytes)")
        return problems, notes

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
        """The parsed JSON file ``name`` (None when absent), verified; metrics.json and
        config.json are also checked to hold what they should."""
        data = self.read_bytes(name)
        if data is None:
            return None
        p = self.dir / name
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DamagedRunError(p, f"unparsable JSON ({exc})") from None
        problem = _metrics_problem(obj) if name == "metrics.json" else (
            _config_problem(obj) if name == "config.json" else None)
        if problem:
            raise DamagedRunError(p, problem)
        return obj

    def save_json(self, name: str, obj: Any) -> None:
        self.write_bytes(name, json.dumps(obj, indent=1, sort_keys=True, default=_jsonable).encode())

    def save_metrics(self, metrics: dict) -> None:
        """Write ``metrics.json`` and its training log ``metrics.csv`` (:func:`metrics_csv`), both in the
        manifest. The CSV first: a reader of metrics.json never finds a log older than it."""
        self.write_bytes("metrics.csv", metrics_csv(metrics).encode())
        self.save_json("metrics.json", metrics)

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

    def cached_arrays(self, name: str, compute) -> dict[str, np.ndarray]:
        """``compute()`` (a dict of arrays or tensors) once, stored as ``name`` (an .npz
        file, written atomically) in the run's folder; later calls read it back with
        every array's dtype and shape (JSON lists lose the dtype: uint8 images would come
        back as integers that plots read as floats in [0, 1]).

        Example:
            >>> import tempfile, numpy as np
            >>> from focusmim.config import make_config
            >>> run = RunStore(tempfile.mkdtemp()).open(make_config("smoke"))
            >>> got = run.cached_arrays("ex.npz", lambda: {"images": np.full((2, 3, 4, 4), 200, np.uint8)})
            >>> got["images"].dtype, got["images"].shape, int(got["images"].max())
            (dtype('uint8'), (2, 3, 4, 4), 200)
        """
        if not name.endswith(".npz"):
            raise ValueError(f"name={name!r} is not allowed; allowed: a file name ending in .npz")
        data = self.read_bytes(name)
        if data is None:
            got = compute()
            if not isinstance(got, dict) or not got:
                raise ValueError(f"compute() returned {type(got).__name__}; allowed: a non-empty dict of arrays")
            arrays = {}
            for k, v in got.items():
                a = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
                if a.dtype == object:
                    raise ValueError(f"compute()[{k!r}] is not a numeric array; allowed: arrays or tensors")
                arrays[k] = a
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            data = buf.getvalue()
            self.write_bytes(name, data)
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    # ---------------------------------------------------------- checkpoints
    def checkpoint_path(self, which: str | int) -> Path:
        if isinstance(which, int) and not isinstance(which, bool):
            return self.dir / f"epoch{which:04d}.pt"
        if which not in ("best", "last"):
            raise ValueError(f"which={which!r} is not allowed; allowed: 'best', 'last', or an epoch number")
        return self.dir / f"{which}.pt"

    def save_checkpoint(self, which: str | int, state: dict) -> None:
        buf = io.BytesIO()
        torch.save(state, buf)
        self.write_bytes(self.checkpoint_path(which).name, buf.getvalue())

    def load_checkpoint(self, which: str | int, map_location: str = "cpu") -> dict:
        """The checkpoint's state, verified against the manifest and checked finite."""
        p = self.checkpoint_path(which)
        if not p.exists():
            have = sorted(x.name for x in self.dir.glob("*.pt"))
            raise FileNotFoundError(f"no checkpoint {p.name} in {self.dir}; present: {have}")
        return self._load_pt(p, map_location)

    def _load_pt(self, p: Path, map_location: str) -> dict:
        data = self.read_bytes(p.name)
        try:
            state = torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)
        except Exception as exc:  # truncated zip, garbled pickle, ...
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DamagedRunError(p, f"not a readable checkpoint ({msg})") from None
        bad = _non_finite(state)
        if bad:
            raise DamagedRunError(p, f"holds non-finite weights ({bad})")
        return state

    def zoo_entry(self, which: str | int = "best") -> dict | None:
        """The zoo's entry (:func:`focusmim.zoo.for_run`) that stands for this run's ``which`` weights when
        they are not in its folder: only for ``best`` (what the zoo exports), else None."""
        if which != "best" or self.checkpoint_path("best").exists():
            return None
        return zoo.for_run(self.dir.name)

    def has_model(self, which: str | int = "best") -> bool:
        """Whether :meth:`load_model` finds weights for ``which``: its checkpoint here, or (``best``) the zoo's."""
        return self.checkpoint_path(which).exists() or self.zoo_entry(which) is not None

    def load_model(self, which: str | int = "best", device: str = "cpu") -> torch.nn.Module:
        """The trained model in eval mode (``which``: 'best', 'last' or a snapshot epoch).

        Without ``best.pt`` in the run's folder, ``best`` is the zoo's model of this run's key (fp16
        weights, checksum checked; :mod:`focusmim.zoo`). The model's ``weights_source`` says which
        weights these are: None for this run's own checkpoint, else the zoo's record
        (:func:`focusmim.zoo.weights_record`), for a figure's caption
        (:func:`focusmim.captions.weights_note`).

        Example:
            >>> import tempfile
            >>> from focusmim.config import make_config
            >>> RunStore(tempfile.mkdtemp()).open(make_config("smoke")).load_model()  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            FileNotFoundError: no checkpoint best.pt in ...; present: [] (and no zoo model of run ...)
        """
        e = self.zoo_entry(which)
        if e is not None:
            return zoo.load_pretrained(e["name"], device=device)
        try:
            state = self.load_checkpoint(which, map_location=device)
        except FileNotFoundError as exc:
            if which != "best":
                raise
            raise FileNotFoundError(f"{exc} (and no zoo model of run {self.dir.name} in {zoo.zoo_dir()})") from None
        model = models.build_for_config(self.config)
        # best.pt and snapshots hold {"model": ...}; last.pt holds every module of the objective
        model.load_state_dict(state["model"] if "model" in state else state["modules"]["model"])
        model = model.to(device).eval()
        model.weights_source = None
        return model

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
        """Raise :class:`~focusmim.io.WriteError` (folder + OS error) unless the run's
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


CSV_COLUMNS = ("epoch", "loss", "lr", "images_per_s", "decorrelation", "knn_accuracy", "epoch_time_s",
               "wall_time_s")


def metrics_csv(metrics: dict) -> str:
    """A run's training log as CSV, one row per finished epoch (:data:`CSV_COLUMNS`): the epoch's mean
    training loss, learning rate, throughput, held-out decorrelation, kNN accuracy (on the epochs the kNN
    monitor ran, ``Config.knn_every``; else empty), the epoch's time and the wall time so far (seconds);
    numbers to 10 significant digits (metrics.json keeps them exactly).

        >>> print(metrics_csv({"loss": [0.5, 0.25], "lr": [1e-3, 1e-3], "epoch_time": [2.0, 1.5],
        ...                    "images_per_s": [32.0, 42.7], "knn_epochs": [2], "knn_accuracy": [0.4]}))
        epoch,loss,lr,images_per_s,decorrelation,knn_accuracy,epoch_time_s,wall_time_s
        1,0.5,0.001,32,,,2,2
        2,0.25,0.001,42.7,,0.4,1.5,3.5
        <BLANKLINE>
    """
    knn = dict(zip(metrics.get("knn_epochs") or [], metrics.get("knn_accuracy") or []))
    cols = {"loss": metrics.get("loss") or [], "lr": metrics.get("lr") or [],
            "images_per_s": metrics.get("images_per_s") or [], "decorrelation": metrics.get("decorrelation") or [],
            "epoch_time_s": metrics.get("epoch_time") or []}
    out, wall = [",".join(CSV_COLUMNS)], 0.0
    for i in range(len(cols["loss"])):
        got = {k: v[i] if i < len(v) else None for k, v in cols.items()}
        got["epoch"], got["knn_accuracy"] = i + 1, knn.get(i + 1)
        wall = None if wall is None or got["epoch_time_s"] is None else wall + got["epoch_time_s"]
        got["wall_time_s"] = wall
        out.append(",".join("" if got[c] is None else f"{got[c]:.10g}" if isinstance(got[c], float) else str(got[c])
                            for c in CSV_COLUMNS))
    return "\n".join(out) + "\n"


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


def _jsonable(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
