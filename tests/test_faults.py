"""Fault injection against the run store and the training loop, with real faults:
kill -9 (also in the middle of a checkpoint write), damaged files, a full disk (a small
tmpfs, or RLIMIT_FSIZE where mounting is not possible), a read-only folder, a loss
that turns NaN after good epochs, broken images. Every test checks that the message
names the file, folder or parameter, and that nothing stored before is lost.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from focusmim.cli import main as cli
from focusmim.config import make_config
from focusmim.utils.io import WriteError, file_digest
from focusmim.training.objectives import MIM
from focusmim.store.runs import MANIFEST, DamagedRunError, DamagedRunWarning, Run, RunStore
from focusmim.training.train import NonFiniteLossError, pretrain

ROOT = Path(__file__).resolve().parent.parent
CFG = make_config("smoke", epochs=3, n_unlabeled=96, n_labeled=100, n_test=60, batch_size=32, width=0.25,
                  snapshot_epochs=(1,))
EVAL = "eval-demo.json"  # a cached evaluation, as the chapters store them


def _weights(run: Run, which) -> dict:
    state = run.load_checkpoint(which)
    return state["modules"]["model"] if which == "last" else state["model"]


def _same_run(a: Run, b: Run) -> None:
    """Bit-identical training results: curves and every kept checkpoint."""
    for k in ("loss", "decorrelation", "epochs_done", "best_epoch", "finished"):
        assert a.metrics[k] == b.metrics[k], k
    for which in ("last", "best", 1):
        wa, wb = _weights(a, which), _weights(b, which)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), which


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): file_digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Run:
    """The uninterrupted run (with a snapshot and a cached evaluation) every fault is compared with."""
    run = pretrain(CFG, RunStore(tmp_path_factory.mktemp("ref")), progress=False)
    run.cached_json(EVAL, lambda: {"accuracy": 0.5})
    return run


def _copy(reference: Run, tmp_path: Path) -> RunStore:
    store = RunStore(tmp_path / "store")
    shutil.copytree(reference.dir, store.path(CFG))
    return store


# ---------------------------------------------------------------------------------------------- kill -9
_CHILD = r"""
import json, os, signal, sys
from focusmim.utils import io as fio
from focusmim.store import files, runs
from focusmim.config import Config
from focusmim.training.train import pretrain
cfg_json, root, target, nth, where = sys.argv[1:6]
count = {"n": 0}
real_write, real_atomic = runs.Run.write_bytes, files.atomic_write_bytes

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def half_then_die(data, path, before_replace=None):  # killed with half the temporary file on disk
    files.atomic_write_bytes = real_atomic
    def write(f):
        f.write(data[: len(data) // 2]); f.flush(); os.fsync(f.fileno()); die()
    fio.atomic_write(path, write)

def die_before_rename(data, path, before_replace=None):  # the manifest already lists the new file
    files.atomic_write_bytes = real_atomic
    return real_atomic(data, path, before_replace=lambda: (before_replace(), die()))

def write_bytes(self, name, data):
    if name == target:
        count["n"] += 1
        if count["n"] == int(nth):
            files.atomic_write_bytes = {"mid-write": half_then_die, "before-rename": die_before_rename}[where]
    return real_write(self, name, data)

runs.Run.write_bytes = write_bytes
pretrain(Config.from_dict(json.loads(cfg_json)), runs.RunStore(root), progress=False)
"""


@pytest.mark.parametrize("target,nth,where", [
    ("last.pt", 2, "mid-write"),         # a checkpoint half written when the process dies
    ("last.pt", 2, "before-rename"),     # manifest updated, old last.pt still in place
    ("best.pt", 1, "mid-write"),         # the very first checkpoint write
    ("metrics.json", 3, "before-rename"),
    ("config.json", 1, "before-rename"),  # before anything else exists
])
def test_kill9_then_resume_is_bit_identical(reference, tmp_path, target, nth, where):
    root = tmp_path / "store"
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(CFG.to_dict()), str(root), target, str(nth),
                           where], env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    store = RunStore(root)
    rows = store.verify()
    assert [r["status"] for r in rows] == ["ok"], rows  # an interrupted write is not damage
    if where == "mid-write":
        assert "temporary file(s) left over" in rows[0]["detail"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DamagedRunWarning)
        resumed = pretrain(CFG, store, progress=False)
    _same_run(reference, resumed)
    assert not list(resumed.dir.glob(".*.tmp"))  # resume cleans the leftovers
    assert [r["status"] for r in store.verify()] == ["ok"]


def test_store_gc_removes_leftover_temporary_files(reference, tmp_path, capsys):
    store = _copy(reference, tmp_path)
    junk = store.path(CFG) / ".last.pt.abc123.tmp"
    junk.write_bytes(b"\0" * 1000)
    assert cli(["store", "gc", "--root", str(store.root)]) == 0
    assert "removed 1 temporary file" in capsys.readouterr().out and not junk.exists()
    assert [r["status"] for r in store.verify()] == ["ok"]


# ------------------------------------------------------------------------------------- damaged files
def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 3)])


def _garble_bytes(p: Path) -> None:  # same size, 4,000 bytes (or all) overwritten with random bytes
    data = bytearray(p.read_bytes())
    n = min(4000, len(data))
    start = (len(data) - n) // 2
    data[start:start + n] = np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes()
    p.write_bytes(bytes(data))


def _garble_json(p: Path) -> None:  # valid JSON, wrong content
    obj = json.loads(p.read_text())
    if p.name == "metrics.json":
        obj.update(finished=True, loss=["garbage"])
    elif p.name == MANIFEST:
        obj["files"]["best.pt"]["sha256"] = "0" * 64
    else:
        obj = {**obj, "epochs": obj.get("epochs", 0) + 7} if p.name == "config.json" else {"accuracy": 0.99}
    p.write_text(json.dumps(obj))


FILES = ["config.json", "metrics.json", "last.pt", "best.pt", "epoch0001.pt", EVAL, MANIFEST]
DAMAGE = {"truncated": _truncate, "garbled-bytes": _garble_bytes, "garbled-json": _garble_json,
          "deleted": lambda p: p.unlink()}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("name", FILES)
def test_damaged_file_is_named_kept_aside_and_the_run_restored(reference, tmp_path, name, damage):
    if damage == "garbled-json" and name.endswith(".pt"):
        pytest.skip("checkpoints are not JSON (their garbling is the garbled-bytes case)")
    store = _copy(reference, tmp_path)
    d = store.path(CFG)
    damage_fn = DAMAGE[damage]
    damage_fn(d / name)
    damaged = (d / name).read_bytes() if (d / name).exists() else None
    before = _snapshot(d)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = pretrain(CFG, store, progress=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, DamagedRunWarning)]
    aside = [p for p in store.root.iterdir() if ".corrupt-" in p.name]

    harmless = damage == "deleted" and (name.endswith(".pt") or name == MANIFEST)
    # a manifest that parses but lists a wrong checksum makes best.pt the file that does not match it
    named = "best.pt" if (name, damage) == (MANIFEST, "garbled-json") else name
    recompute = named.endswith(".pt")
    if harmless:  # weights not kept (as in the committed store) / a legacy run: reused as it is
        assert not messages and not aside
        assert _snapshot(d) == before
        if name == "best.pt":
            with pytest.raises(FileNotFoundError, match="best.pt"):
                run.load_model("best")
    else:
        assert len(messages) == 1 and str(d / named) in messages[0], messages  # the file's path and the problem
        assert len(aside) == 1 and _snapshot(aside[0]) == before  # kept exactly as found
        if damaged is not None:
            assert (aside[0] / name).read_bytes() == damaged
        assert ("it will be recomputed" if recompute else "resuming it from its intact last.pt") in messages[0]
        _same_run(reference, run)
        assert run.load_json(EVAL) == (None if recompute or name == EVAL else {"accuracy": 0.5})
    rows = [r for r in store.verify() if ".corrupt-" not in r["run"]]
    assert [r["status"] for r in rows] in (["ok"], ["legacy"]), rows


def test_legacy_run_garbled_metrics_and_non_finite_weights_are_caught(reference, tmp_path):
    """Runs written before manifests existed: JSON is checked for what it holds, weights for finiteness."""
    store = _copy(reference, tmp_path)
    d = store.path(CFG)
    (d / MANIFEST).unlink()
    state = torch.load(d / "best.pt", weights_only=False)
    next(iter(state["model"].values())).view(-1)[0] = float("nan")
    torch.save(state, d / "best.pt")
    with pytest.raises(DamagedRunError, match=r"best\.pt: holds non-finite weights"):
        Run(d, CFG).load_model("best")
    assert [r["status"] for r in store.verify()] == ["damaged"]
    with pytest.warns(DamagedRunWarning, match=r"best\.pt: holds non-finite weights.*recomputed"):
        run = pretrain(CFG, store, progress=False)
    _same_run(reference, run)

    d2 = tmp_path / "legacy2"
    shutil.copytree(reference.dir, d2 / d.name)
    (d2 / d.name / MANIFEST).unlink()
    m = json.loads((d2 / d.name / "metrics.json").read_text())
    (d2 / d.name / "metrics.json").write_text(json.dumps({**m, "finished": True, "loss": ["garbage"]}))
    with pytest.raises(DamagedRunError, match=r"metrics\.json: 'loss' is not a list of finite numbers"):
        Run(d2 / d.name, CFG).metrics


def test_one_damaged_config_does_not_break_listing_the_store(reference, tmp_path):
    store = _copy(reference, tmp_path)
    other = CFG.replace(seed=1)
    shutil.copytree(reference.dir, store.path(other))
    Run(store.path(other), other).save_json("config.json", other.to_dict())
    _truncate(store.path(CFG) / "config.json")
    with pytest.warns(DamagedRunWarning, match=str(store.path(CFG) / "config.json")):
        listed = store.runs()
    assert [r.dir.name for r in listed] == [other.key()]
    assert store.open(other).config == other  # opening another run is not affected either


def test_store_verify_names_the_damaged_file_and_passes_on_the_committed_store(reference, tmp_path, capsys):
    store = _copy(reference, tmp_path)
    _garble_bytes(store.path(CFG) / "best.pt")
    assert cli(["store", "verify", "--root", str(store.root)]) == 1
    out = capsys.readouterr().out
    assert "damaged" in out and "best.pt: sha256 checksum mismatch" in out
    # the committed store (configs, metrics, cached evaluations; no weights) verifies
    assert cli(["store", "verify", "--root", str(ROOT / "results" / "store")]) == 0
    assert "0 damaged" in capsys.readouterr().out


# ----------------------------------------------------------------------------- full disk / read-only
@contextlib.contextmanager
def _tmpfs(path: Path, size: str):
    """A small tmpfs at ``path`` (root only); yields False where it cannot be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield False
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(folder: Path) -> Path:
    """Write a file until the file system is full."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    return filler


_FSIZE_CHILD = r"""
import json, resource, signal, sys
from focusmim.cli import main
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write then fails with EFBIG instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
sys.exit(main(["run", "--preset", "smoke", "--epochs", "1", "--strategies", "plain autoencoder",
               "--probe-seeds", "0"]))
"""


def test_full_disk_names_the_folder_and_keeps_what_was_stored(reference, tmp_path):
    mnt = tmp_path / "small"
    with _tmpfs(mnt, "24m") as mounted:
        if not mounted:  # no root: the per-process file size limit stands in for a full disk
            env = {**os.environ, "PYTHONPATH": str(ROOT), "FOCUSMIM_RUNS": str(mnt)}
            proc = subprocess.run([sys.executable, "-c", _FSIZE_CHILD, "200000"], env=env, capture_output=True,
                                  text=True, timeout=300)
            assert proc.returncode == 2, proc.stderr
            line = proc.stderr.strip().splitlines()[-1]
            assert "File too large" in line and str(mnt) in line
            return
        store = RunStore(mnt)
        shutil.copytree(reference.dir, store.path(CFG))
        kept = _snapshot(store.path(CFG))
        other = CFG.replace(seed=5)
        # room for the config and a few writes, not for the whole run: the failure is mid-training
        filler = _fill(mnt)
        os.truncate(filler, filler.stat().st_size - 400_000)
        with pytest.raises(WriteError) as e:
            pretrain(other, store, progress=False)
        msg = str(e.value)
        assert e.value.errno == errno.ENOSPC and "No space left on device" in msg
        assert str(store.path(other)) in msg and "\n" not in msg
        assert _snapshot(store.path(CFG)) == kept  # the finished run is untouched
        assert not list(store.path(other).glob(".*.tmp"))  # no half-written leftovers
        assert [r["status"] for r in store.verify()] == ["ok", "ok"]  # what was written is consistent
        # a full disk is named before any data is loaded
        _fill(mnt)
        with pytest.raises(WriteError, match=f"{store.path(CFG.replace(seed=6))}.*No space left"):
            pretrain(CFG.replace(seed=6, data_root=str(tmp_path / "no-data")), store, progress=False)
        filler.unlink()
        (mnt / "filler.bin").unlink(missing_ok=True)
        resumed = pretrain(other, store, progress=False)  # space again: it resumes and finishes
        assert resumed.finished and len(resumed.metrics["loss"]) == other.epochs


def test_read_only_store_fails_before_the_data_loads_with_one_line(reference, tmp_path):
    mnt = tmp_path / "ro"
    with _tmpfs(mnt, "16m") as mounted:
        if not mounted:
            if os.geteuid() == 0:
                pytest.skip("as root, chmod does not stop writes and mounting a read-only tmpfs failed here")
            mnt.mkdir(exist_ok=True)
        store = RunStore(mnt)
        shutil.copytree(reference.dir, store.path(CFG))
        kept = _snapshot(store.path(CFG))
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        else:
            os.chmod(mnt, 0o555)
            os.chmod(store.path(CFG), 0o555)
        try:
            assert pretrain(CFG, store, progress=False).finished  # reading a read-only store works
            # the data root does not exist: the write check must come first to be the error seen
            (tmp_path / "no-data").mkdir()  # an empty data folder: loading it would fail
            bad = CFG.replace(seed=3, dataset="cifar10", data_root=str(tmp_path / "no-data"))
            with pytest.raises(WriteError) as e:
                pretrain(bad, store, progress=False)
            assert str(store.path(bad)) in str(e.value) and ("Read-only" in str(e.value)
                                                             or "Permission denied" in str(e.value))
            env = {**os.environ, "PYTHONPATH": str(ROOT), "FOCUSMIM_RUNS": str(mnt)}
            proc = subprocess.run([sys.executable, "-m", "focusmim", "run", "--preset", "smoke", "--epochs", "1",
                                   "--strategies", "plain autoencoder"], env=env, capture_output=True, text=True,
                                  timeout=300)
            lines = proc.stderr.strip().splitlines()
            assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: cannot write")
            assert str(mnt) in lines[0]
            assert _snapshot(store.path(CFG)) == kept
        finally:
            if not mounted:
                os.chmod(store.path(CFG), 0o755)
                os.chmod(mnt, 0o755)


# ---------------------------------------------------------------------------------------- NaN loss
def test_nan_after_good_epochs_keeps_those_checkpoints_and_says_so(reference, tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    calls = {"n": 0}
    real_step = MIM.step

    def diverging(self, batch):  # the weights themselves turn NaN in epoch 3 (3 steps per epoch)
        calls["n"] += 1
        if calls["n"] == 7:
            with torch.no_grad():
                for p in self.model.parameters():
                    p.fill_(float("nan"))
        return real_step(self, batch)

    monkeypatch.setattr(MIM, "step", diverging)
    with pytest.raises(NonFiniteLossError) as e:
        pretrain(CFG, store, progress=False)
    run = Run(store.path(CFG), CFG)
    msg = str(e.value)
    assert "epoch 3, step 1" in msg and "last.pt (after epoch 2)" in msg
    assert f"best.pt (epoch {run.metrics['best_epoch']})" in msg and str(run.dir) in msg
    assert run.load_checkpoint("last")["epoch"] == 2  # loads: intact and finite
    assert run.metrics["loss"] == reference.metrics["loss"][:2]
    assert [r["status"] for r in store.verify()] == ["ok"]

    calls["n"] = 6  # the next step diverges: in the first epoch: nothing is kept, and the message says so
    with pytest.raises(NonFiniteLossError, match="no epoch completed, so no checkpoint is kept"):
        pretrain(CFG.replace(seed=9), store, progress=False)


# ------------------------------------------------------------------------------------- broken images
@pytest.mark.parametrize("breakage", ["truncated", "empty", "not-an-image"])
def test_every_undecodable_image_is_named(tmp_path, breakage):
    from PIL import Image

    from focusmim.data import load

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in ("cat", "dog"):
            (tmp_path / "cifar10" / split / c).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                    tmp_path / "cifar10" / split / c / f"{i:04d}.jpg")
    bad = tmp_path / "cifar10" / "train" / "dog" / "0001.jpg"
    if breakage == "truncated":
        bad.write_bytes(bad.read_bytes()[:10])
    elif breakage == "empty":
        bad.write_bytes(b"")
    else:
        bad.write_bytes(os.urandom(500))
    with pytest.raises(ValueError, match=f"image file {bad} cannot be decoded"):
        load("cifar10", "unlabeled", root=tmp_path, cache_dir=tmp_path / "cache")
    assert len(load("cifar10", "test", root=tmp_path, cache_dir=tmp_path / "cache")) == 6  # the rest still reads


# ------------------------------------------------------------------------------------------ the CLI
@pytest.mark.parametrize("argv,names", [
    (["run", "--probe-seeds", "-1"], "--probe-seeds"),
    (["run", "--seeds", "-2"], "--seeds"),
    (["precompute", "--epochs", "-1"], "--epochs"),
])
def test_negative_counts_are_rejected(argv, names, capsys):
    with pytest.raises(SystemExit) as e:
        cli(argv)
    assert e.value.code == 2 and names in capsys.readouterr().err


def test_cli_user_errors_are_one_line_and_tracebacks_need_debug(tmp_path, capsys):
    target = tmp_path / "missing" / "dir" / "x.md"
    assert cli(["summary", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(target.parent) in err[0] and not (tmp_path / "missing").exists()
    assert cli(["precompute", "--preset", "nope"]) == 2
    assert "preset='nope'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="preset"):
        cli(["precompute", "--preset", "nope", "--debug"])
    assert cli(["store", "verify", "--root", str(tmp_path / "absent")]) == 2
    assert "--root" in capsys.readouterr().err
