"""scripts/device_queue.sh and device_queue.py, run on the CPU as a lease would run them on a GPU:
pack a dataset, unpack it, train a tiny priority queue until a deadline, write the store and the zoo's
files out, then continue from the written store on a 'fresh machine'."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import device_queue  # noqa: E402

TINY = ["--epochs", "1", "--seeds", "0", "--groups", "main", "--field", "n_labeled=20", "--field", "batch_size=8",
        "--field", "width=0.25", "--field", "compile=false", "--field", "snapshot_epochs=[]"]


def _imagenette(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, k in (("train", 12), ("test", 4)):
        for cls in ("tench", "church"):
            d = folder / "imagenette96" / split / cls
            d.mkdir(parents=True)
            for i in range(k):
                Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(d / f"{i}.jpg")
    return folder


def _env(tmp_path, **kw):
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CARRY": str(tmp_path / "carry"),
            **{k: str(v) for k, v in kw.items()}}


def test_a_lease_packs_trains_writes_out_and_continues(tmp_path):
    data = _imagenette(tmp_path / "data")
    sh = str(ROOT / "scripts" / "device_queue.sh")
    packed = subprocess.run(["bash", sh, "--pack", "imagenette96"], env=_env(tmp_path, FOCUSMIM_DATA=data),
                            capture_output=True, text=True, cwd=tmp_path)
    assert packed.returncode == 0, packed.stderr
    assert (tmp_path / "carry" / "imagenette96.tar.xz").stat().st_size > 0
    # the dry run names the queue, the packed size and the GPU minutes, without training
    dry = subprocess.run([sys.executable, str(ROOT / "scripts" / "device_queue.py"), "--preset", "imagenette",
                          "--dry-run", "--store", str(tmp_path / "none"), "--pack",
                          str(tmp_path / "carry" / "imagenette96.tar.xz")],
                         env=_env(tmp_path, FOCUSMIM_DATA=data / "imagenette96"), capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "foveal filter" in dry.stdout and "GPU time for the whole queue" in dry.stdout and "MiB" in dry.stdout
    assert not (tmp_path / "none").exists()
    # the lease: a machine with nothing but the repository and the carried pack
    out = tmp_path / "out"
    lease = subprocess.run(["bash", sh, "--preset", "imagenette", *TINY],
                           env=_env(tmp_path, FM_TMP=tmp_path / "m1", OUT=out, BUDGET=400),
                           capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert lease.returncode == 0, lease.stdout + lease.stderr
    log = json.loads((out / "queue.json").read_text())
    assert [r["status"] for r in log] == ["done"] * 4, log
    assert log[0]["raw_pixels"] is not None and all("best" in r["probes"] for r in log)
    with tarfile.open(out / "store.tar.gz") as tar:
        names = tar.getnames()
    assert not [n for n in names if n.endswith(".pt")]  # no fp32 checkpoints travel back
    for r in log:
        assert f"{r['key']}/metrics.json" in names and any(n.startswith(f"{r['key']}/probe-") for n in names)
    zoo = sorted(p.name for p in out.glob("zoo-*.tar"))
    assert zoo == ["zoo-1.tar", "zoo-2.tar"]  # four first-seed models, three a file
    # a fresh machine continues from the written store: every run is reused, nothing trained again
    (tmp_path / "carry" / "store.tar.gz").write_bytes((out / "store.tar.gz").read_bytes())
    again = subprocess.run(["bash", sh, "--preset", "imagenette", *TINY],
                           env=_env(tmp_path, FM_TMP=tmp_path / "m2", OUT=tmp_path / "out2", BUDGET=400),
                           capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    log2 = json.loads((tmp_path / "out2" / "queue.json").read_text())
    assert [r["outcome"] for r in log2] == ["reused"] * 4
    assert [r["probes"] for r in log2] == [r["probes"] for r in log]


def test_the_queue_skips_what_would_not_finish_before_the_deadline(tmp_path, monkeypatch):
    items = device_queue.science_queue("smoke", epochs=1, seeds=(0,), groups=("main",), n_unlabeled=32,
                                       n_labeled=20, n_test=20, width=0.25, batch_size=16)
    monkeypatch.setattr(device_queue, "GUESS_IMAGES_PER_S", {32: 1e-3})  # every run would take days
    log = device_queue.run_queue(items, tmp_path / "store", tmp_path / "out", deadline=__import__("time").time() + 60)
    assert [r["status"].split(":")[0] for r in log] == ["skipped"] * 4
    assert json.loads((tmp_path / "out" / "queue.json").read_text()) == json.loads(json.dumps(log))


def test_the_science_queue_is_chapter_one_in_the_issue_order():
    items = device_queue.science_queue("smoke", seeds=(0, 1, 2))
    main = [(i.condition, i.cfg.seed) for i in items if i.group == "main"]
    assert main[:4] == [(c, 0) for c in device_queue.MAIN] and len(main) == 12
    assert [i.zoo for i in items if i.group == "main"] == [True] * 4 + [False] * 8
    assert [i.group for i in items][-1] == "sweep"
    keys = [i.cfg.key() for i in items]
    assert len(set(keys)) == len(keys)  # the sweep leaves out the ratios the main runs have
