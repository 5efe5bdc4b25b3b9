"""The maintenance scripts in scripts/, run as a maintainer would, on a tiny store."""
import json
import os
import subprocess
import sys
from pathlib import Path

from focusmim.store import zoo
from focusmim.config import make_config
from focusmim.evaluation.probe import evaluate
from focusmim.store.runs import RunStore
from focusmim.training.train import pretrain

ROOT = Path(__file__).resolve().parent.parent


def test_zoo_add_writes_the_manifest_from_the_run_store(tmp_path):
    cfg = make_config("smoke", epochs=1, n_unlabeled=64, n_labeled=60, n_test=60, batch_size=32, width=0.25)
    store = RunStore(tmp_path / "store")
    run = pretrain(cfg, store, progress=False)
    exported = zoo.export(run, tmp_path / "out" / "tiny.safetensors", name="tiny-random-patches")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(ROOT / "scripts" / "zoo_add.py"), "--store", str(store.root),
           "--zoo", str(tmp_path / "zoo")]
    no_probe = subprocess.run(cmd + [str(exported)], env=env, capture_output=True, text=True, timeout=300)
    assert no_probe.returncode == 1 and "no cached probe of its best weights" in no_probe.stderr
    probe = evaluate(run, seeds=(0,))
    run.dir.joinpath("metrics.csv").unlink()  # as a run trained before the log existed
    manifest = json.loads(run.dir.joinpath("manifest.json").read_text())
    del manifest["files"]["metrics.csv"]
    run.dir.joinpath("manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run(cmd + [str(exported)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "tiny-random-patches: run " in done.stdout and "1 models" in done.stdout
    [e] = zoo.manifest(tmp_path / "zoo")
    assert e["accuracy"] == probe["accuracy_mean"] and e["knn_accuracy"] == probe["knn_accuracy"]
    assert e["run_key"] == run.dir.name and e["final_loss"] == run.metrics["loss"][-1]
    assert Path(e["training_log"]) == run.dir / "metrics.csv" and run.read_bytes("metrics.csv")  # written, listed
    assert run.verify() == ([], [])
    damaged = tmp_path / "zoo" / e["file"]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    check = subprocess.run(cmd + ["--check"], env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 1 and f"problem: zoo file {damaged} is damaged" in check.stderr
