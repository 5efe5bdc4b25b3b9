"""Sweeps on submitit: every run the chapters need becomes its own job (Slurm or local).

``python -m focusmim precompute --executor slurm ...`` does, for the chosen chapters:

1. *collect*: run each chapter's ``compute`` under :func:`focusmim.training.train.collecting`,
   which trains nothing and lists the runs the store does not hold finished yet
   (:class:`~focusmim.training.train.RunsPending`);
2. *submit*: one submitit job per run (``(chapter, condition, seed)`` -> one config;
   a config two chapters share is trained once), waiting with a progress bar over
   jobs; a failed job is reported with its log and resubmitted once; a preempted or
   timed-out job is requeued by submitit and resumes from its last checkpoint
   (:class:`TrainJob` is ``Checkpointable``; :func:`~focusmim.training.train.pretrain` resumes);
3. repeat 1-2 until the chapters' runs are all stored (a chapter may ask for more
   runs once earlier ones exist), then run each chapter's ``compute`` for real, which
   now only reads the store and probes, and save its tables (:meth:`Notebook.save`, under
   ``<run store>/tables/<preset>/``).

The jobs share the run store, whose per-run lock keeps two jobs from training one
run at once. Nothing here schedules: submitit and Slurm do.

    >>> executor = make_executor("local", folder=__import__("tempfile").mkdtemp())
    >>> type(executor).__name__
    'AutoExecutor'
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import submitit
from tqdm.auto import tqdm

from focusmim import chapters
from focusmim.config import Config, ConfigError
from focusmim.experiments import Table
from focusmim.store.runs import RunStore
from focusmim.training.train import RunsPending, collecting, pretrain

__all__ = ["TrainJob", "make_executor", "pending_runs", "run_jobs", "precompute", "SweepError", "EXECUTORS"]

EXECUTORS = ("local", "slurm")
MAIN_TABLES = ("table", "curves")  # result keys a notebook saves under its own name; others get a suffix


class SweepError(RuntimeError):
    """Some jobs failed twice; the message names each one's log."""


class TrainJob(submitit.helpers.Checkpointable):
    """One job: ``pretrain`` one config into the store at ``root``. On preemption or
    timeout submitit calls ``checkpoint``, which resubmits the same call; it resumes
    from the run's last complete epoch."""

    def __call__(self, config: dict, root: str) -> dict:
        started = time.time()
        run = pretrain(Config.from_dict(config), RunStore(root), progress=False)
        return {"key": run.dir.name, "outcome": run.outcome, "epochs_done": run.metrics.get("epochs_done"),
                "started": started, "ended": time.time()}


def make_executor(kind: str, folder: str | Path, *, partition: str | None = None, gpus_per_job: int | None = None,
                  time_min: int = 240, cpus_per_job: int | None = None, max_parallel: int | None = None):
    """A submitit executor: ``kind`` 'slurm' (partition, GPUs per job, time limit, at most
    ``max_parallel`` jobs at once) or 'local' (subprocesses of this machine; every job
    submitted at once runs at once). Job logs go to ``folder``."""
    if kind not in EXECUTORS:
        raise ConfigError(f"executor={kind!r} is not allowed; allowed: {', '.join(EXECUTORS)}")
    ex = submitit.AutoExecutor(folder=str(folder), cluster=kind)
    params: dict = {"timeout_min": int(time_min), "name": "focusmim"}
    gpus = (1 if kind == "slurm" else 0) if gpus_per_job is None else int(gpus_per_job)
    params["gpus_per_node"] = gpus
    if cpus_per_job is not None:
        params["cpus_per_task"] = int(cpus_per_job)
    if kind == "slurm":
        if partition:
            params["slurm_partition"] = partition
        if max_parallel:
            params["slurm_array_parallelism"] = int(max_parallel)
    ex.update_parameters(**params)
    return ex


def pending_runs(names: Sequence[str], notebook: Callable[[str], object], store: RunStore
                 ) -> tuple[list[Config], dict[str, dict]]:
    """Run each chapter's ``compute`` without training: ``(configs still to train,
    name -> result of the chapters that completed)``. Configs are unique by key."""
    todo: dict[str, Config] = {}
    results = {}
    for name in names:
        try:
            with collecting():
                results[name] = chapters.compute(name, notebook(name), store=store)
        except RunsPending as e:
            for c in e.configs:
                todo.setdefault(c.key(), c)
    return list(todo.values()), results


def run_jobs(configs: Sequence[Config], executor, store: RunStore, *, retries: int = 1, poll_s: float = 1.0,
             progress: bool = True) -> list[dict]:
    """Submit one :class:`TrainJob` per config, wait for all with a progress bar, resubmit
    a failed job ``retries`` times (printing its log path); returns the jobs' results.
    Raises :class:`SweepError` naming the logs of the jobs that still failed."""
    jobs = {}
    with executor.batch():  # one Slurm job array
        for c in configs:
            jobs[c.key()] = (c, executor.submit(TrainJob(), c.to_dict(), str(store.root)))
    tries = {k: 0 for k in jobs}
    results, failed = [], []
    bar = tqdm(total=len(jobs), desc="jobs", unit="job", disable=not progress)
    while jobs:
        time.sleep(poll_s)
        for key, (cfg, job) in list(jobs.items()):
            if not job.done():
                continue
            err = job.exception()
            if err is None:
                results.append(job.result())
                del jobs[key]
                bar.update(1)
                continue
            line = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            log = job.paths.stderr
            if tries[key] < retries:
                tries[key] += 1
                print(f"job {job.job_id} ({cfg.describe()}) failed: {line}\n  log: {log}; resubmitting",
                      file=sys.stderr, flush=True)
                jobs[key] = (cfg, executor.submit(TrainJob(), cfg.to_dict(), str(store.root)))
            else:
                failed.append(f"job {job.job_id} ({cfg.describe()}): {line}; log: {log}")
                del jobs[key]
                bar.update(1)
    bar.close()
    if failed:
        raise SweepError(f"{len(failed)} of {len(configs)} job(s) failed after {retries} retry: " + "; ".join(failed))
    return results


def precompute(names: Sequence[str], notebook: Callable[[str], object], executor, store: RunStore | None = None,
               *, retries: int = 1, poll_s: float = 1.0, progress: bool = True, max_waves: int = 20) -> dict:
    """Train every run of chapters ``names`` as submitit jobs, then compute each chapter
    from the store and save its tables. ``notebook(name)`` gives a chapter's context
    (:func:`focusmim.book.notebook.setup`). Returns name -> the chapter's result."""
    store = store if store is not None else RunStore()
    for name in names:
        chapters.REGISTRY.check(name, "chapter")  # every name checked before any work
    for _ in range(max_waves):
        todo, _done = pending_runs(names, notebook, store)
        if not todo:
            break
        print(f"submitting {len(todo)} run(s) as jobs", flush=True)
        run_jobs(todo, executor, store, retries=retries, poll_s=poll_s, progress=progress)
    else:
        raise SweepError(f"chapters {list(names)} still ask for new runs after {max_waves} waves of jobs")
    out = {}
    for name in names:  # every run is stored: this only reads and probes
        nb = notebook(name)
        out[name] = chapters.compute(name, nb, store=store)
        save_tables(nb, out[name])
    return out


def save_tables(nb, result: dict) -> list[Path]:
    """Save the :class:`~focusmim.experiments.Table` values of a chapter's result as the
    notebook does: ``table``/``curves`` under the chapter's name, others with their key."""
    return [nb.save(v, None if k in MAIN_TABLES else k) for k, v in result.items() if isinstance(v, Table)]
