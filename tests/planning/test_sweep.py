"""Sweeps through submitit's local executor: one job per run, 2 at once, tables from the store."""
import pytest

from focusmim import chapters

from focusmim.planning import sweep
from focusmim.config import ConfigError, make_config
from focusmim.experiments import compare
from focusmim.book.notebook import setup
from focusmim.store.runs import RunStore
from focusmim.training.train import RunsPending, collecting, pretrain

NAME = "test_sweep_chapter"
CONDITIONS = {"random patches": dict(masker="random_patches"), "plain autoencoder": dict(masker="none")}


def _chapter(nb, store=None, progress=False):
    return {"table": compare(nb.base, CONDITIONS, seeds=(0,), probe_seeds=(0,), store=store, title="sweep test",
                             progress=progress)}


@pytest.fixture
def chapter(monkeypatch):
    monkeypatch.setitem(chapters.REGISTRY._factories, NAME, _chapter)
    return NAME


def _notebook(name):
    return setup(name, preset="smoke", epochs=1, n_unlabeled=64, n_labeled=100, n_test=60, batch_size=32, width=0.25)


def test_collecting_lists_every_unfinished_run_and_trains_none(chapter, tmp_path):
    store = RunStore(tmp_path)
    todo, done = sweep.pending_runs([chapter], _notebook, store)
    assert len(todo) == 2 and not done
    assert {c.masker for c in todo} == {"random_patches", "none"}
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written
    pretrain(todo[0], store, progress=False)
    with collecting(), pytest.raises(RunsPending) as e:
        _chapter(_notebook(chapter), store)
    assert [c.key() for c in e.value.configs] == [todo[1].key()]


@pytest.mark.slow
def test_local_executor_runs_two_jobs_at_once_then_writes_the_tables(chapter, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    store = RunStore(tmp_path / "runs")
    ex = sweep.make_executor("local", tmp_path / "jobs", time_min=20)
    submitted = []
    real = sweep.run_jobs
    monkeypatch.setattr(sweep, "run_jobs", lambda cfgs, *a, **k: submitted.append(real(cfgs, *a, **k)) or submitted[-1])
    out = sweep.precompute([chapter], _notebook, ex, store, poll_s=0.2, progress=False)
    (jobs,) = submitted  # one wave of 2 jobs
    assert sorted(j["outcome"] for j in jobs) == ["trained", "trained"]
    assert max(j["started"] for j in jobs) < min(j["ended"] for j in jobs)  # they ran at the same time
    assert {r.dir.name for r in store.runs() if r.finished} == {j["key"] for j in jobs}
    table = out[chapter]["table"]
    assert [r["condition"] for r in table.rows] == list(CONDITIONS)
    assert sorted(table.column("run_keys"), key=str) == sorted(([j["key"]] for j in jobs), key=str)
    from focusmim.experiments import tables_dir

    assert (tables_dir() / "smoke" / f"{chapter}.json").exists()
    again = sweep.precompute([chapter], _notebook, ex, store, poll_s=0.2, progress=False)
    assert len(submitted) == 1 and again[chapter]["table"].rows[0]["run_keys"] == table.rows[0]["run_keys"]


@pytest.mark.slow
def test_a_failing_job_is_retried_once_and_reported_with_its_log(tmp_path, capsys):
    (tmp_path / "empty").mkdir()  # an existing folder without images: the job fails loading them
    bad = make_config("smoke", epochs=1, n_unlabeled=64, batch_size=32, width=0.25, dataset="cifar10",
                      data_root=str(tmp_path / "empty"))
    ex = sweep.make_executor("local", tmp_path / "jobs", time_min=10)
    with pytest.raises(sweep.SweepError, match=r"1 of 1 job\(s\) failed after 1 retry.*log: .*\.err"):
        sweep.run_jobs([bad], ex, RunStore(tmp_path / "runs"), poll_s=0.2, progress=False)
    assert "resubmitting" in capsys.readouterr().err


def test_unknown_executor_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="executor='pbs' is not allowed; allowed: local, slurm"):
        sweep.make_executor("pbs", tmp_path)


@pytest.mark.slow
def test_a_preempted_job_is_requeued_and_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    import json
    import os
    import time

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = make_config("smoke", epochs=8, n_unlabeled=96, n_labeled=100, n_test=60, batch_size=32, width=0.25)
    store = RunStore(tmp_path / "runs")
    ex = sweep.make_executor("local", tmp_path / "jobs", time_min=20)
    job = ex.submit(sweep.TrainJob(), cfg.to_dict(), str(store.root))
    metrics = store.path(cfg) / "metrics.json"
    deadline = time.time() + 600
    while time.time() < deadline and not job.done():
        if metrics.exists() and json.loads(metrics.read_text())["epochs_done"] >= 1:
            break
        time.sleep(0.02)
    # the preemption signal Slurm sends to a job's task (submitit's local controller does not pass on
    # the one its _interrupt() sends it, so it is sent to the task process, the controller's child)
    from pathlib import Path

    from submitit.local.local import LocalJobEnvironment

    pid = job._process.pid
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            os.kill(int(child), LocalJobEnvironment._usr_sig())
    at = json.loads(metrics.read_text())["epochs_done"]
    assert 1 <= at < cfg.epochs, "the job finished before it could be preempted; make it longer"
    out = job.result()
    assert out["outcome"] == "resumed" and out["epochs_done"] == cfg.epochs
    ref = pretrain(cfg, RunStore(tmp_path / "ref"), progress=False).metrics["loss"]  # uninterrupted
    assert store.get(cfg).metrics["loss"] == pytest.approx(ref, rel=1e-5)  # (thread counts differ)
