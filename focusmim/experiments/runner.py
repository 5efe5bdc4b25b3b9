"""Experiments: named conditions -> pretrain (stored runs) -> probe -> one table.

A notebook cell reads like a sentence:

    >>> conditions = {"random patches": dict(masker="random_patches"),
    ...               "plain autoencoder": dict(masker="none")}
    >>> table = compare(base, conditions, seeds=(0,), probe_seeds=(0, 1))   # doctest: +SKIP
    >>> table.show()                     # an HTML table in a notebook    # doctest: +SKIP
    >>> print(table.to_markdown())       # the same cells as text          # doctest: +SKIP

Every row carries the provenance of its number (dataset, image size, epochs,
seeds, device, wall time), and a table saves itself as small JSON in the run
store's ``tables/`` folder (:func:`tables_dir`). The book's committed tables under
``results/`` (:func:`results_dir`) change only through :func:`publish`
(``python -m focusmim publish``), so no test, notebook or user run rewrites them.
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Mapping, Sequence

from focusmim.config import Config
from focusmim.data import load_for_config
from focusmim.evaluation.probe import evaluate, raw_pixel_baseline
from focusmim.store.runs import Run, RunStore
from focusmim.training.train import RunsPending, pretrain

from .records import provenance, summarise, training_budget
from .tables import Table



def train_conditions(base: Config, conditions: Mapping[str, Mapping[str, Any]], seeds: Iterable[int] = (0,),
                     store: RunStore | None = None, progress: bool = True) -> dict[str, list[Run]]:
    """Pretrain (or reuse) every condition for every seed; returns name -> runs."""
    store = store if store is not None else RunStore()
    cfgs = {name: [base.replace(seed=s, **dict(over)) for s in seeds] for name, over in conditions.items()}
    if getattr(store, "planning", False):  # focusmim.planning.plan.PlanningStore: record, do not train
        return {name: store.record(cs) for name, cs in cfgs.items()}
    out, pending = {}, []  # configs are all validated above, before any training starts
    for name, cs in cfgs.items():
        try:
            out[name] = [pretrain(c, store, progress=progress) for c in cs]
        except RunsPending:  # collecting (focusmim.training.train.collecting): list them all, train none
            pending += [c for c in cs if store.get(c) is None]
    if pending:
        raise RunsPending(pending)
    return out


def compare(base: Config, conditions: Mapping[str, Mapping[str, Any]], *, seeds: Iterable[int] = (0,),
            probe_seeds: Sequence[int] = (0, 1, 2, 3, 4), which: str | int = "best", raw_pixels: bool = False,
            store: RunStore | None = None, title: str = "", progress: bool = True, job_bar: bool = False,
            probe: Mapping[str, Any] | None = None, workers: int = 1) -> Table:
    """Pretrain each condition (reusing stored runs), probe it, and tabulate; the
    table's ``runs`` holds each condition's runs (so callers need not train them again).

    The accuracy's mean and std are over pretraining seeds when there are
    several, else over probe seeds. ``job_bar=True``: one progress bar (with an
    ETA) over the whole job, a step per pretrained-and-probed run plus the
    raw-pixel baseline, instead of one bar per run. ``probe``: keyword arguments
    of the linear probe that differ from the paper's (e.g. ``lr``), recorded in
    the table's meta. ``workers > 1`` (with ``job_bar``): the runs are trained and
    probed in that many processes at once, each with an equal share of the CPU
    threads (:func:`worker_plan`); on a small CPU this beats one process using
    every core, whose small convolutions do not scale. The store's per-run lock
    keeps workers from training the same run twice."""
    t0 = time.perf_counter()
    seeds = tuple(seeds)
    probe = dict(probe or {})
    raw = None
    if job_bar:
        runs, raw = _train_and_probe_with_one_bar(base, conditions, seeds, probe_seeds, which, probe, raw_pixels,
                                                  store or RunStore(), workers)
    else:
        runs = train_conditions(base, conditions, seeds, store, progress)
    table = Table(title or "linear probe", meta=provenance(base, seeds=seeds, probe_seeds=probe_seeds), runs=runs)
    if getattr(store, "planning", False):  # planning: the configs are recorded, there is nothing to probe
        return table
    if probe:
        table.meta["probe"] = probe
    for name, rs in runs.items():
        table.rows.append(summarise(name, rs, probe_seeds, which, **probe))
    if raw_pixels:
        first = next((rs[0] for rs in runs.values() if rs), None)  # same data as base: holds the cached result
        res = raw or raw_pixel_baseline(base, probe_seeds, run=first, **probe)
        table.rows.append({"condition": "raw pixels", "accuracy_mean": res["accuracy_mean"],
                           "accuracy_std": res["accuracy_std"], "knn": res.get("knn_accuracy"),
                           "epochs": 0, "wall_time_s": 0.0})
    table.meta["seconds"] = time.perf_counter() - t0
    table.meta.update(training_budget(table.rows))
    return table


def worker_plan(device: str, tasks: int, cores: int | None = None) -> tuple[int, int]:
    """``(processes, threads each)`` for training ``tasks`` runs at once on ``device``
    with ``cores`` threads in all (default: torch's thread count).

    On a CPU: one process per core (at most one per task), the threads shared out
    evenly (measured on 2 cores, 32 px, width 0.25, batch 16: two 1-thread
    processes train 1.7x the runs per second of one 2-thread process). On a GPU:
    one process (runs share the device badly).

        >>> worker_plan("cpu", tasks=12, cores=2), worker_plan("cpu", tasks=1, cores=16)
        ((2, 1), (1, 16))
        >>> worker_plan("cpu", tasks=12, cores=32), worker_plan("cuda", tasks=12, cores=16)
        ((12, 2), (1, 16))
    """
    if cores is None:
        import torch

        cores = torch.get_num_threads()
    if device != "cpu" or tasks <= 1 or cores <= 1:
        return 1, cores
    n = min(cores, tasks)
    return n, max(1, cores // n)


def _train_and_probe(cfg: Config, probe_seeds, which, probe: dict, threads: int, root: str) -> str:
    """One worker task: pretrain (or reuse) ``cfg`` and cache its probe result in the run's folder."""
    import torch

    torch.set_num_threads(threads)
    run = pretrain(cfg, RunStore(root), progress=False)
    evaluate(run, probe_seeds, which, **probe)
    return run.dir.name


def _train_and_probe_with_one_bar(base, conditions, seeds, probe_seeds, which, probe, raw_pixels, store,
                                  workers: int = 1):
    from tqdm.auto import tqdm

    cfgs = {name: [base.replace(seed=s, **dict(over)) for s in seeds] for name, over in conditions.items()}
    total = sum(map(len, cfgs.values())) + bool(raw_pixels)
    out: dict[str, list[Run]] = {}
    raw = None
    with tqdm(total=total, desc="main job", unit="run", smoothing=0) as bar:
        if workers > 1:
            _in_processes([(name, c) for name, cs in cfgs.items() for c in cs], probe_seeds, which, probe, store,
                          workers, bar)
        for name, cs in cfgs.items():
            out[name] = []
            for c in cs:
                if workers <= 1:
                    bar.set_postfix_str(f"{name}, seed {c.seed}")
                run = pretrain(c, store, progress=False)  # trained by a worker: reused here
                evaluate(run, probe_seeds, which, **probe)  # cached in the run: summarise reads it back
                out[name].append(run)
                if workers <= 1:
                    bar.update(1)
        if raw_pixels:
            bar.set_postfix_str("raw pixels")
            first = next((rs[0] for rs in out.values() if rs), None)
            raw = raw_pixel_baseline(base, probe_seeds, run=first, **probe)
            bar.update(1)
    return out, raw


def train_and_probe(base: Config, conditions: Mapping[str, Mapping[str, Any]], seeds: Iterable[int],
                    probe_seeds: Sequence[int], store: RunStore, workers: int = 2, which: str | int = "best",
                    probe: Mapping[str, Any] | None = None) -> None:
    """Pretrain and probe every (condition, seed) in ``workers`` processes, caching each probe in its run's
    folder (a later :func:`compare` of the same conditions reads them back). Runs already stored are reused."""
    from tqdm.auto import tqdm

    tasks = [(name, base.replace(seed=s, **dict(over))) for name, over in conditions.items() for s in seeds]
    if not tasks:
        return
    with tqdm(total=len(tasks), desc="train and probe", unit="run", smoothing=0) as bar:
        _in_processes(tasks, probe_seeds, which, dict(probe or {}), store, workers, bar)


def _in_processes(tasks, probe_seeds, which, probe, store, workers, bar) -> None:
    """Train and probe ``(name, config)`` tasks in ``workers`` spawned processes (an existing engine:
    :class:`concurrent.futures.ProcessPoolExecutor`), advancing ``bar`` as each finishes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    import torch

    first = tasks[0][1]
    for cfg, split in ((first, "unlabeled"), (first.replace(foreground="none"), "train"),
                       (first.replace(foreground="none"), "test")):
        load_for_config(cfg, split)  # fill the data cache once, before the workers read it
    threads = max(1, torch.get_num_threads() // workers)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(_train_and_probe, c, tuple(probe_seeds), which, dict(probe), threads,
                               str(store.root)): (name, c) for name, c in tasks}
        bar.set_postfix_str(f"{workers} processes x {threads} thread{'s' * (threads > 1)}")
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                f.result()  # a worker's error (e.g. a diverged run) is raised here, with its own message
                bar.update(1)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


