"""One run's folder as files: every write atomic and recorded in the manifest, every read verified
(:mod:`focusmim.store.integrity`), JSON and array caches, and the training log as CSV.

Example:
    >>> import tempfile, pathlib
    >>> run = RunFiles(pathlib.Path(tempfile.mkdtemp()) / "r", None)
    >>> run.dir.mkdir(); run.save_json("x.json", {"a": 1})
    >>> run.load_json("x.json"), sorted(run.manifest())
    ({'a': 1}, ['x.json'])
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from focusmim.config import Config
from focusmim.utils.io import HASH, atomic_write_bytes

from .integrity import (MANIFEST, DamagedRunError, _config_problem, _entry, _entry_ok, _is_temporary, _metrics_problem,
                        _mismatch, _non_finite)


class RunFiles:
    """A run's folder: its files, each written atomically and verified when read."""

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
            >>> from focusmim.store.runs import RunStore
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
            >>> from focusmim.store.runs import RunStore
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

    def cached_arrays(self, name: str, compute) -> dict[str, np.ndarray]:
        """``compute()`` (a dict of arrays or tensors) once, stored as ``name`` (an .npz
        file, written atomically) in the run's folder; later calls read it back with
        every array's dtype and shape (JSON lists lose the dtype: uint8 images would come
        back as integers that plots read as floats in [0, 1]).

        Example:
            >>> import tempfile, numpy as np
            >>> from focusmim.config import make_config
            >>> from focusmim.store.runs import RunStore
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


def _jsonable(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
