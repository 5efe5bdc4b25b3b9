"""scripts/device_queue.sh and device_queue.py, run on the CPU as a lease would run them on a GPU: pack a dataset,
train a tiny queue of the whole book's kind until a deadline, write the store and the zoo's files out, bring them
back into a store here (verified; a damaged file set aside), and continue on a 'fresh machine' whose store has no
weights (a needed evaluation retrains the run into the side store and says so)."""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import device_queue  # noqa: E402

TINY = ["--preset", "smoke", "--epochs", "1", "--seeds", "0", "--groups", "capture", "lr-select", "lr-selected",
        "ch02", "readouts", "--field", "n_unlabeled=32", "--field", "n_labeled=40", "--field", "n_test=40",
        "--field", "width=0.25", "--field", "batch_size=16"]


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
            "NO_U2NET": "1", **{k: str(v) for k, v in kw.items()}}


def _lease(tmp_path, machine, out, book, *extra):
    sh = str(ROOT / "scripts" / "device_queue.sh")
    res = subprocess.run(["bash", sh, *TINY, *extra],
                         env=_env(tmp_path, FM_TMP=tmp_path / machine, OUT=out, BUDGET=400, BOOK_STORE=book),
                         capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert [d.name for d in (tmp_path / machine / "fmdata").iterdir()] == ["imagenette96"]  # the store is no data
    return json.loads((out / "queue.json").read_text())


def _git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


def _fake_repo(root: Path) -> Path:
    """A small checkout shaped like this one: a zoo, a book's store (with ignored weights), code; and local
    changes (a modified and an untracked run file) that must survive a pack and its restore."""
    rng = np.random.default_rng(1)
    files = {".gitignore": "/.carry/\n/.whl/\n*.pt\n", "focusmim/a.py": "x = 1\n", "zoo/manifest.json": "{}",
             "notebooks/01.ipynb": "{}"}
    for k in ("aaaa", "bbbb"):
        files[f"results/store/{k}/config.json"] = json.dumps({"key": k})
        files[f"results/store/{k}/metrics.json"] = json.dumps({"loss": [1 / (i + 1) for i in range(3000)]})
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "zoo" / "m.safetensors").write_bytes(rng.bytes(300_000))
    (root / "results/store/aaaa/best.pt").write_bytes(rng.bytes(200_000))  # ignored: travels nowhere
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    (root / "results/store/aaaa/config.json").write_text('{"key": "aaaa", "edited": 1}')
    (root / "results/store/cccc").mkdir()
    (root / "results/store/cccc/config.json").write_text('{"key": "cccc"}')
    return root


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() if p.stat().st_size < 2**20 else p.stat().st_size
            for p in root.rglob("*")
            if p.is_file() and ".git" not in p.parts and ".carry" not in p.parts and ".lease-hold" not in p.parts}


def test_pack_holds_what_must_not_travel_measures_and_restores_the_tree(tmp_path):
    repo = _fake_repo(tmp_path / "repo")
    data = _imagenette(tmp_path / "data")
    before, status = _snapshot(repo), _git(repo, "status", "--porcelain", "--untracked-files=all")
    sh = ["bash", str(ROOT / "scripts" / "device_queue.sh")]
    env = {**_env(tmp_path, FOCUSMIM_DATA=data, LEASE_ROOT=repo), "CARRY": ".carry"}
    packed = subprocess.run([*sh, "--pack", "imagenette96"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert packed.returncode == 0, packed.stdout + packed.stderr
    # what travels: the tree without the zoo's weights and the store, and the carry; measured to the byte
    assert not (repo / "zoo/m.safetensors").exists() and (repo / ".lease-hold/zoo/m.safetensors").exists()
    assert (repo / "zoo/manifest.json").exists() and (repo / "results/store/aaaa/best.pt").exists()
    assert not list((repo / "results/store").glob("*/*.json"))
    sent = [p for p in _git(repo, "ls-files", "--cached", "--others", "--exclude-standard").split("\n") if p]
    expect = sum((repo / p).stat().st_size for p in sent if (repo / p).exists()) + \
        sum(p.stat().st_size for p in (repo / ".carry").rglob("*") if p.is_file())
    b = device_queue.travelling_bytes(repo)
    assert b["total"] == expect and b["store"] == 0 and b["zoo"] == 2  # zoo/manifest.json stays
    assert f"a lease sends {expect / 2**20:.1f} MiB of at most 64.0 MiB (fits" in packed.stdout
    assert "book-store.tar.xz" in packed.stdout and "imagenette96.tar.xz" in packed.stdout
    # the machine restores the packed store: the very run files the tree had (local edits included), no weights
    store = tmp_path / "machine-store"
    assert device_queue.restore(repo / ".carry" / device_queue.BOOK_ARCHIVE, store) == 5
    for rel, data_ in before.items():
        if rel.startswith("results/store/") and rel.endswith(".json"):
            assert (store / rel[len("results/store/"):]).read_bytes() == data_
    assert not list(store.rglob("*.pt")) and sorted(d.name for d in store.iterdir()) == ["aaaa", "bbbb", "cccc"]
    # a second pack starts from the whole tree (it restores first), then back: everything as it was
    again = subprocess.run([*sh, "--pack", "imagenette96"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 0 and "data pack is up to date" in again.stdout, again.stdout + again.stderr
    back = subprocess.run([*sh, "--restore-tree"], env=env, capture_output=True, text=True)
    assert back.returncode == 0 and "the tree is intact" in back.stdout, back.stdout + back.stderr
    assert _snapshot(repo) == before
    assert _git(repo, "status", "--porcelain", "--untracked-files=all") == status
    nothing = subprocess.run([*sh, "--restore-tree"], env=env, capture_output=True, text=True)
    assert nothing.returncode == 0 and "nothing held" in nothing.stdout
    # a file changed while held is kept; the held one stays in the hold, named; the command says so
    device_queue.hold_tree(repo)
    (repo / "zoo/m.safetensors").write_bytes(b"new")
    text, ok = device_queue.restore_held(repo)
    assert not ok and "zoo/m.safetensors" in text and (repo / ".lease-hold/zoo/m.safetensors").exists()


def test_pack_refuses_an_oversize_tree_and_puts_it_back(tmp_path):
    repo = _fake_repo(tmp_path / "repo")
    data = _imagenette(tmp_path / "data")
    with open(repo / "big.bin", "wb") as f:  # untracked, not ignored: it travels (sparse: no disk used)
        f.truncate(65 * 2**20)
    with open(repo / "results/store/aaaa/huge.pt", "wb") as f:  # ignored: it does not count
        f.truncate(200 * 2**20)
    before = _snapshot(repo)
    env = {**_env(tmp_path, FOCUSMIM_DATA=data, LEASE_ROOT=repo), "CARRY": ".carry"}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "device_queue.sh"), "--pack", "imagenette96"], env=env,
                         capture_output=True, text=True)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "does NOT fit" in res.stdout and "TOO LARGE by 1." in res.stdout and "the tree is intact" in res.stdout
    assert _snapshot(repo) == before


def test_a_lease_packs_trains_brings_back_and_continues_without_weights(tmp_path):
    from focusmim.store.runs import RunStore

    data = _imagenette(tmp_path / "data")
    packed = subprocess.run(["bash", str(ROOT / "scripts" / "device_queue.sh"), "--pack", "imagenette96"],
                            env=_env(tmp_path, FOCUSMIM_DATA=data, NO_SIZE_CHECK=1), capture_output=True, text=True,
                            cwd=tmp_path)
    assert packed.returncode == 0, packed.stderr
    assert (tmp_path / "carry" / "imagenette96.tar.xz").stat().st_size > 0
    # the lease: a machine with nothing but the repository, the carried pack and the book's store (empty here)
    book = tmp_path / "book-store"
    book.mkdir()
    out = tmp_path / "out"
    log = _lease(tmp_path, "m1", out, book)
    st = {r["group"]: r["status"] for r in log}
    assert st["capture"].startswith("skipped: no CUDA")  # a CPU keeps compile_mode 'default'
    assert st["lr-selected"].startswith("done") or any(r["status"].startswith("resolved") for r in log)
    runs = [r for r in log if r.get("key")]
    assert runs and all(r["status"].startswith("done") for r in runs), [r["status"] for r in runs]
    assert [r["group"] for r in log] == sorted((r["group"] for r in log), key=device_queue.GROUPS.index)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["SHA256SUMS", "queue.json", "store.tar.gz"] and len(names) <= 8
    with tarfile.open(out / "store.tar.gz") as tar:
        members = tar.getnames()
    assert not [n for n in members if n.endswith(".pt")]  # no checkpoints travel back
    # back here: one command, into a store and a zoo of this test, verified
    back, zoo, bench = tmp_path / "back", tmp_path / "zoo", tmp_path / "bench"
    got = subprocess.run(["bash", str(ROOT / "scripts" / "device_queue.sh"), "--bring-back", str(out),
                          "--store", str(back), "--zoo", str(zoo), "--bench", str(bench)],
                         env=_env(tmp_path), capture_output=True, text=True, cwd=ROOT)
    assert got.returncode == 0, got.stdout + got.stderr
    rows = RunStore(back).verify()
    assert rows and all(r["status"] == "ok" for r in rows), rows
    keys = {r["key"] for r in runs}
    assert keys <= {r["run"] for r in rows}
    assert list(bench.glob("lease-queue-*.json"))
    # a damaged file is named and set aside; nothing already stored is lost
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    with tarfile.open(bad / "store.tar.gz") as tar:
        tar.extractall(tmp_path / "x", filter="data")
    victim = next((tmp_path / "x").glob("*/latent-stats-*.json"))
    victim.write_text('{"decorrelation": 1')  # truncated
    with tarfile.open(bad / "store.tar.gz", "w:gz") as tar:
        for p in sorted((tmp_path / "x").rglob("*")):
            tar.add(p, arcname=str(p.relative_to(tmp_path / "x")), recursive=False)
    # SHA256SUMS names the archive as changed; the run file inside is named too
    before = (back / victim.parent.name / victim.name).read_bytes()
    rep = device_queue.bring_back(bad, back, zoo, bench)
    assert any("store.tar.gz" in d for d in rep["damaged"])
    assert (back / victim.parent.name / victim.name).read_bytes() == before
    # a fresh machine continues from the book's store, which has no weights: nothing is trained again except
    # the one run whose chapter-2 statistics were removed, retrained into the side store for its weights
    key = victim.parent.name
    (back / key / victim.name).unlink()
    man = json.loads((back / key / "manifest.json").read_text())
    del man["files"][victim.name]
    (back / key / "manifest.json").write_text(json.dumps(man))
    # ... and from the book's store as --pack carries it (.carry/book-store.tar.xz; no BOOK_STORE given)
    with tarfile.open(tmp_path / "carry" / device_queue.BOOK_ARCHIVE, "w:xz") as tar:
        for p in sorted(back.glob("*/*")):
            tar.add(p, arcname=f"{p.parent.name}/{p.name}")
    log2 = _lease(tmp_path, "m2", tmp_path / "out2", "")
    again = [r for r in log2 if r.get("key")]
    redo = [r for r in again if r["status"] == "done"]
    assert [r["key"] for r in redo] == [key] and "retrained" in redo[0]["weights"], redo
    assert all(r["status"].startswith("done (stored") for r in again if r["key"] != key)
    with tarfile.open(tmp_path / "out2" / "store.tar.gz") as tar:
        back2 = {n for n in tar.getnames()}
    assert f"{key}/lease-weights.json" in back2 and f"{key}/{victim.name}" in back2


def test_the_queue_skips_what_would_not_finish_before_the_deadline(tmp_path, monkeypatch):
    items = device_queue.book_queue("smoke", epochs=1, seeds=(0,), groups=("ch02",), n_unlabeled=32,
                                    n_labeled=20, n_test=20, width=0.25, batch_size=16)
    monkeypatch.setattr(device_queue, "GUESS_IMAGES_PER_S", {32: 1e-3})  # every run would take days
    log = device_queue.run_queue(items, tmp_path / "store", tmp_path / "out", deadline=time.time() + 60)
    assert [r["status"].split(":")[0] for r in log] == ["skipped"] * 6
    assert json.loads((tmp_path / "out" / "queue.json").read_text()) == json.loads(json.dumps(log))


def test_the_dry_run_lists_every_chapter_in_order_with_seconds(tmp_path, monkeypatch, capsys):
    data = _imagenette(tmp_path / "data")
    monkeypatch.setenv("FOCUSMIM_DATA", str(data / "imagenette96"))  # in this process: no second torch import
    assert device_queue.main(["--preset", "imagenette", "--dry-run", "--store", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    rows = [ln.split() for ln in out.splitlines() if ln[:3].strip().isdigit()]
    groups = list(dict.fromkeys(r[1] for r in rows))
    assert groups == [g for g in device_queue.GROUPS if g in groups] == list(device_queue.GROUPS)
    assert "as if the paper's rates won" in out and "GPU time for the whole queue" in out
    assert "lease 1:" in out and "lease 3:" in out
    assert "note: zoo: the lease does not carry zoo/'s weights" in out and device_queue.ZOO_ON_MACHINE
    assert not (tmp_path / "none").exists()


def test_leases_end_where_their_device_time_does():
    rows = [{"group": "g", "seconds": 100.0, "compiles": False} for _ in range(30)]
    leases = device_queue.plan_leases(rows)
    assert [L["lease"] for L in leases] == [1, 2, 3]
    per = [sum(r.get("lease") == k for r in rows) for k in (1, 2, 3)]
    assert per[0] == per[1] == per[2] > 0 and all(L["device_s"] <= device_queue.LEASE_S for L in leases)
    assert sum(per) < 30 and rows[-1].get("lease") is None  # the rest waits for a fourth lease


def test_the_queue_keys_are_the_chapters_keys():
    from focusmim.book.notebook import setup
    from focusmim.planning.plan import chapter_configs

    items = device_queue.book_queue("smoke", seeds=(0,), groups=("ch03", "ch07"))
    nb = setup("07_learned_masks", preset="smoke", seeds=(0,), plan=False)
    assert {i.cfg.key() for i in items if i.group == "ch07"} == {c.key() for c in chapter_configs("07_learned_masks", nb)}
    assert [i.condition for i in items if i.group == "ch03"][:2] == ["random patches", "random patches, no crop"]


def test_the_size_check_counts_the_repository(monkeypatch, tmp_path):
    mib = 2**20
    files = {".carry/imagenette96.tar.xz": 48.5 * mib, ".carry/u2net/u2netp.onnx": 4.4 * mib}
    monkeypatch.setattr(device_queue, "travelling_bytes", lambda root=None, carry=None: {
        "tree": 40 * mib, "store": 12 * mib, "zoo": 23 * mib, "notebooks": 2 * mib, "carry": {".carry": 52.9 * mib},
        "files": files, "total": 92.9 * mib, "limit": 64 * mib})
    text, ok = device_queue.pack_report(tmp_path)
    assert not ok and "TOO LARGE by 28.9 MiB" in text and "results/store (12.0 MiB)" in text
    assert "u2netp.onnx 4.4 MiB" in text and "without u2netp" not in text
    monkeypatch.setattr(device_queue, "travelling_bytes", lambda root=None, carry=None: {
        "tree": 12 * mib, "store": 0, "zoo": 0, "notebooks": 2 * mib, "carry": {".carry": 52.9 * mib},
        "files": files, "total": 64.9 * mib, "limit": 64 * mib})
    text, ok = device_queue.pack_report(tmp_path)
    assert not ok and "without u2netp's weights it fits (60.5 MiB): pack with NO_U2NET=1" in text
