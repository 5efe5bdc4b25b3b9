"""The run store under concurrent workers: a per-run file lock, with real processes."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from focusmim.config import make_config
from focusmim.store.runs import RunStore
from focusmim.training.train import pretrain

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import json, os, sys, time
from focusmim.config import Config
from focusmim.training.objectives import MIM
from focusmim.store.runs import RunStore
from focusmim.training.train import pretrain
t0 = time.time()
cfg = Config.from_dict(json.loads(sys.argv[1]))
if len(sys.argv) > 3:  # stall after the first epoch while the file sys.argv[3] exists (to be killed there)
    real, calls = MIM.step, [0]
    def step(self, batch):
        calls[0] += 1
        while calls[0] > -(-cfg.n_unlabeled // cfg.batch_size) and os.path.exists(sys.argv[3]):
            time.sleep(0.05)
        return real(self, batch)
    MIM.step = step
run = pretrain(cfg, RunStore(sys.argv[2]), progress=False)
print(json.dumps({"outcome": run.outcome, "start": t0, "end": time.time(), "key": run.dir.name}), flush=True)
"""


def _worker(cfg, store: Path, err: Path, *stall: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = [json.dumps(cfg.to_dict()), str(store), *map(str, stall)]
    return subprocess.Popen([sys.executable, "-c", WORKER, *args], env=env,
                            stdout=subprocess.PIPE, stderr=err.open("w"), text=True)


def _result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


def test_the_lock_is_per_run_and_waits_for_its_holder(tiny_cfg, tmp_path):
    store = RunStore(tmp_path)
    a, b = store.lock(tiny_cfg), store.lock(tiny_cfg.replace(seed=1))
    with a:
        with b:  # another run's lock: free
            assert a.is_locked and b.is_locked
        other = store.lock(tiny_cfg)  # the same run's lock, as a second worker would take it
        with pytest.raises(Exception, match="could not be acquired"):
            other.acquire(timeout=0.1)
    with other:  # released by the holder: the next one gets it
        assert other.is_locked


@pytest.mark.slow
def test_two_workers_with_one_config_train_it_once_and_different_configs_run_in_parallel(tiny_cfg, tmp_path):
    store = tmp_path / "runs"
    same = [_worker(tiny_cfg, store, tmp_path / f"same{i}.err") for i in range(2)]
    other = _worker(tiny_cfg.replace(seed=7), store, tmp_path / "other.err")
    got = [_result(p) for p in same]
    assert sorted(r["outcome"] for r in got) == ["reused", "trained"]
    trained, reused = sorted(got, key=lambda r: r["outcome"] != "trained")
    assert reused["end"] >= trained["end"] - 1  # the second one waited for the first
    assert got[0]["key"] == got[1]["key"]
    seven = _result(other)  # a different config did not wait for the lock of the first
    assert seven["outcome"] == "trained" and seven["key"] != got[0]["key"]
    assert seven["start"] < trained["end"] and trained["start"] < seven["end"]
    run = RunStore(store).get(tiny_cfg)
    assert run.metrics["finished"] and len(run.metrics["loss"]) == tiny_cfg.epochs
    assert not run.load_model("best").training
    assert pretrain(tiny_cfg, RunStore(store), progress=False).outcome == "reused"


@pytest.mark.slow
def test_when_the_lock_holder_is_killed_the_waiting_worker_resumes_its_run(tmp_path):
    cfg = make_config("smoke", epochs=3, n_unlabeled=96, n_labeled=100, n_test=60, batch_size=32, width=0.25)
    store = tmp_path / "runs"
    stall = tmp_path / "stall"
    stall.touch()  # the holder stops after its first epoch, holding the lock, until it is killed
    holder = _worker(cfg, store, tmp_path / "holder.err", stall)
    metrics = store / cfg.key() / "metrics.json"
    deadline = time.time() + 600
    while time.time() < deadline and holder.poll() is None:
        if metrics.exists() and json.loads(metrics.read_text())["epochs_done"] >= 1:
            break
        time.sleep(0.02)
    waiter = _worker(cfg, store, tmp_path / "waiter.err")
    while time.time() < deadline and "waiting" not in (tmp_path / "waiter.err").read_text():
        time.sleep(0.05)
    assert holder.poll() is None and waiter.poll() is None
    os.kill(holder.pid, signal.SIGKILL)  # the OS releases its lock
    holder.wait()
    done = json.loads(metrics.read_text())["epochs_done"]
    assert 1 <= done < cfg.epochs
    r = _result(waiter)
    assert r["outcome"] == "resumed"
    run = RunStore(store).get(cfg)
    assert run.metrics["finished"] and run.metrics["epochs_done"] == cfg.epochs
