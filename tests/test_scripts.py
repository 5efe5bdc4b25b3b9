"""The maintenance scripts in scripts/, run as a maintainer would, on a tiny store."""
import json
import os
import subprocess
import sys
from pathlib import Path

from focusmim.config import make_config
from focusmim.runs import RunStore
from focusmim.train import pretrain

ROOT = Path(__file__).resolve().parent.parent


def test_stand_in_examples_draws_a_weightless_runs_examples_with_its_retrain(tmp_path):
    cfg = make_config("smoke", epochs=1, n_unlabeled=64, n_labeled=60, n_test=60, batch_size=32, width=0.25)
    book = RunStore(tmp_path / "book")
    run = pretrain(cfg, book, progress=False)
    for p in run.dir.glob("*.pt"):  # the book keeps no weights
        p.unlink()
    table = tmp_path / "01_masking_strategy.json"
    table.write_text(json.dumps({"rows": [{"condition": "random patches", "run_keys": [run.dir.name]},
                                          {"condition": "raw pixels"}]}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(ROOT / "scripts" / "stand_in_examples.py"), "--store", str(book.root),
           "--scratch", str(tmp_path / "scratch"), "--table", str(table)]
    skipped = subprocess.run(cmd + ["--no-train"], env=env, capture_output=True, text=True, timeout=600)
    assert skipped.returncode == 0, skipped.stderr
    assert "no finished retrain" in skipped.stdout and not list(run.dir.glob("reconstructions-*.json"))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "retrain trained" in done.stdout
    [cached] = run.dir.glob("reconstructions-*.json")
    got = json.loads(cached.read_text())
    assert got["weights"]["stand_in"] and got["weights"]["key"] == run.dir.name
    assert len(got["target"]) == 3 and not list(run.dir.glob("*.pt"))  # the book's store stays weightless
    same = subprocess.run(cmd + ["--store", str(tmp_path / "scratch")], env=env, capture_output=True, text=True)
    assert same.returncode == 2 and "--scratch is the book's store" in same.stderr
