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

import json
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import focusmim
from focusmim.config import Config, resolve_device
from focusmim.data import load_for_config
from focusmim.io import atomic_write_text
from focusmim.objectives import uses_bf16
from focusmim.presets import PRESET_RANK
from focusmim.probe import evaluate, raw_pixel_baseline
from focusmim.runs import Run, RunStore, default_root
from focusmim.train import RunsPending, pretrain

__all__ = ["Table", "compare", "load_tables", "train_conditions", "results_dir", "tables_dir", "publish", "provenance", "mean_std",
           "training_budget", "runs_record", "worker_plan", "checkpoint_epoch", "train_and_probe"]


def results_dir() -> Path:
    """The book's published tables: ``$FOCUSMIM_RESULTS`` or ``results/`` at the repository
    root (small JSON, committed; written only by :func:`publish`)."""
    env = os.environ.get("FOCUSMIM_RESULTS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "results"


def tables_dir() -> Path:
    """Where :meth:`Table.save` writes: ``$FOCUSMIM_TABLES``, else ``tables/`` inside the run
    store (``$FOCUSMIM_RUNS``, default ``runs/``; not tracked by git)."""
    env = os.environ.get("FOCUSMIM_TABLES")
    return Path(env) if env else default_root() / "tables"


def publish(presets: Sequence[str] | None = None, *, src: str | Path | None = None,
            dst: str | Path | None = None) -> list[tuple[Path, Path, bool]]:
    """Copy saved tables ``src/<preset>/*.json`` (default :func:`tables_dir`) into the book's
    ``dst/<preset>/`` (default :func:`results_dir`): the one way the committed tables change.
    ``presets=None`` publishes every preset folder found. Returns ``(source, target, changed)``
    for every table.

        >>> import tempfile
        >>> tmp = Path(tempfile.mkdtemp())
        >>> _ = Table("demo", [{"condition": "a"}]).save("smoke/demo", root=tmp / "tables")
        >>> [(t.relative_to(tmp).as_posix(), changed) for _, t, changed in publish(src=tmp / "tables", dst=tmp / "book")]
        [('book/smoke/demo.json', True)]
        >>> [changed for _, _, changed in publish(src=tmp / "tables", dst=tmp / "book")]
        [False]
    """
    src = Path(src) if src is not None else tables_dir()
    dst = Path(dst) if dst is not None else results_dir()
    if not src.is_dir():
        raise FileNotFoundError(f"no saved tables in {src} (run a notebook or `python -m focusmim run` first, "
                                f"or set FOCUSMIM_TABLES / FOCUSMIM_RUNS to where they were saved)")
    folders = sorted(p for p in src.iterdir() if p.is_dir()) if presets is None else [src / p for p in presets]
    missing = [f.name for f in folders if not f.is_dir()]
    if missing:
        have = sorted(p.name for p in src.iterdir() if p.is_dir())
        raise FileNotFoundError(f"presets {missing} have no saved tables in {src}; saved: {have}")
    out = []
    for folder in folders:
        for f in sorted(folder.glob("*.json")):
            target = dst / folder.name / f.name
            text = f.read_text()
            changed = not target.exists() or target.read_text() != text
            if changed:
                atomic_write_text(text, target)
            out.append((f, target, changed))
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


@dataclass
class Table:
    """Rows of results (dicts) with a title and the budget behind them.

    ``runs``: condition -> the stored runs (one per pretraining seed) behind its row,
    when the table was made by :func:`compare` (not saved: the rows name them by key).
    """

    title: str
    rows: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    runs: dict[str, list[Run]] = field(default_factory=dict, repr=False, compare=False)

    def column(self, name: str) -> list:
        return [r.get(name) for r in self.rows]

    def row(self, condition: str) -> dict:
        for r in self.rows:
            if r["condition"] == condition:
                return r
        raise KeyError(f"no condition {condition!r}; have {[r['condition'] for r in self.rows]}")

    def to_markdown(self, columns: Sequence[str] | None = None) -> str:
        columns = list(columns or ["condition", "accuracy", "knn", "decorrelation", "epochs", "wall_time_s"])
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for r in self.rows:
            lines.append("| " + " | ".join(_fmt(r, c) for c in columns) + " |")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return f"**{self.title}**\n\n" + self.to_markdown()

    def show(self, columns: Sequence[str] | None = None):
        """The table as a pandas Styler (an HTML ``<table>`` in a notebook and in the book;
        plain text in a terminal), with the same cells as :meth:`to_markdown` and the
        title as its caption; underscores in column names read as spaces. A notebook cell
        ends with ``table.show([...])``.

        Example:
            >>> t = Table("demo", [{"condition": "a", "accuracy_mean": 0.5, "accuracy_std": 0.1}])
            >>> html = t.show(["condition", "accuracy"]).to_html()
            >>> "<table" in html and "50.0 ± 10.0 %" in html and "demo" in html
            True
        """
        import pandas as pd

        columns = list(columns or self._default_columns())
        # headers read as words (and wrap in a narrow column): "wall_time_s" -> "wall time s"
        frame = pd.DataFrame([[_fmt(r, c) for c in columns] for r in self.rows],
                             columns=[c.replace("_", " ") for c in columns])
        # a percentage never breaks before its "%" sign when a long condition name squeezes its column
        styler = frame.style.hide(axis="index").map(lambda v: "white-space: nowrap" if v.endswith("%") else "")
        return styler.set_caption(self.title) if self.title else styler

    def _repr_html_(self) -> str:
        return self.show().to_html()

    def _default_columns(self) -> list[str]:
        default = ["condition", "accuracy", "knn", "decorrelation", "epochs", "wall_time_s"]
        keys = {k for r in self.rows for k in r} | {"accuracy" for r in self.rows if "accuracy_mean" in r}
        cols = [c for c in default if c in keys]
        return cols if len(cols) > 1 else list(dict.fromkeys(k for r in self.rows for k in r))

    def save(self, name: str, root: str | Path | None = None) -> Path:
        """Write ``<root>/<name>.json`` (default root :func:`tables_dir`, never the committed ``results/``)."""
        path = Path(root if root is not None else tables_dir()) / f"{name}.json"
        atomic_write_text(json.dumps({"title": self.title, "rows": self.rows, "meta": self.meta},
                                     indent=1, sort_keys=True, default=str), path)
        return path

    @classmethod
    def load(cls, name: str, root: str | Path | None = None) -> "Table":
        """Read ``<root>/<name>.json`` (default root :func:`tables_dir`, where :meth:`save` writes)."""
        d = json.loads((Path(root if root is not None else tables_dir()) / f"{name}.json").read_text())
        return cls(d["title"], d["rows"], d.get("meta", {}))


def _fmt(row: dict, col: str) -> str:
    if col == "accuracy" and "accuracy_mean" in row:
        return f"{100 * row['accuracy_mean']:.1f} ± {100 * row['accuracy_std']:.1f} %"
    v = row.get(col)
    if v is None:
        return ""
    if col in ("knn", "finetune"):  # accuracies stored as fractions
        return f"{100 * v:.1f} %"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def train_conditions(base: Config, conditions: Mapping[str, Mapping[str, Any]], seeds: Iterable[int] = (0,),
                     store: RunStore | None = None, progress: bool = True) -> dict[str, list[Run]]:
    """Pretrain (or reuse) every condition for every seed; returns name -> runs."""
    store = store if store is not None else RunStore()
    cfgs = {name: [base.replace(seed=s, **dict(over)) for s in seeds] for name, over in conditions.items()}
    if getattr(store, "planning", False):  # focusmim.plan.PlanningStore: record, do not train
        return {name: store.record(cs) for name, cs in cfgs.items()}
    out, pending = {}, []  # configs are all validated above, before any training starts
    for name, cs in cfgs.items():
        try:
            out[name] = [pretrain(c, store, progress=progress) for c in cs]
        except RunsPending:  # collecting (focusmim.train.collecting): list them all, train none
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


def training_budget(rows: Sequence[dict]) -> dict:
    """Where and for how long the rows' runs were trained (they may have been trained
    elsewhere, e.g. on a GPU, and reused here): ``device_name`` and ``device`` (both the runs' own record,
    replacing the executing machine's in a table's meta), ``wall_time_s`` and ``precision``.

        >>> training_budget([{"device": "NVIDIA H200", "wall_time_s": 60.0}, {"epochs": 0}])
        {'device_name': 'NVIDIA H200', 'device': 'NVIDIA H200', 'wall_time_s': 60.0}
    """
    out = {}
    trained = sorted({str(r["device"]) for r in rows if r.get("device")})
    if trained:
        out["device_name"] = out["device"] = " + ".join(trained)
    secs = sum(float(r.get("wall_time_s") or 0.0) for r in rows)
    if secs > 0:
        out["wall_time_s"] = secs
    precision = sorted({str(r["precision"]) for r in rows if r.get("precision")})
    if precision:
        out["precision"] = " + ".join(precision)
    return out


def run_precision(run: Run) -> str:
    """What a run trained in: its own record (``metrics["precision"]``), or for runs stored before that
    record, its config and device: bf16 autocast when ``amp`` on CUDA (or ``cpu_amp`` on the CPU), else fp32.

        >>> import tempfile
        >>> from focusmim.config import make_config
        >>> from focusmim.runs import RunStore
        >>> run = RunStore(tempfile.mkdtemp()).open(make_config("smoke"))
        >>> run_precision(run)
        'fp32'
    """
    m = run.metrics
    if m.get("precision"):
        return m["precision"]
    cfg = run.config
    on_cuda = str(m.get("device", "")).startswith("cuda") or "NVIDIA" in str(m.get("device_name", ""))
    return "bf16 autocast" if cfg.amp and (on_cuda or cfg.cpu_amp) else "fp32"


def runs_record(runs: Sequence[Run]) -> dict:
    """What a table row needs to say which runs it shows and what they cost, from the
    runs' own records: ``run_keys``, ``pretrain_seeds``, ``epochs``, ``device`` (where
    they were trained) and ``wall_time_s`` (their training time, summed)."""
    ms = [r.metrics for r in runs]
    return {"epochs": runs[0].config.epochs, "pretrain_seeds": [r.config.seed for r in runs],
            "wall_time_s": sum(m.get("wall_time_s", 0.0) for m in ms),
            "device": ms[0].get("device_name", ms[0].get("device")), "run_keys": [r.dir.name for r in runs],
            "precision": run_precision(runs[0])}


def checkpoint_epoch(metrics: Mapping, which: str | int) -> int:
    """The epoch (1-based) whose weights the checkpoint ``which`` holds: ``"best"`` (lowest
    training loss; ``metrics["best_epoch"]``), ``"last"`` or an epoch number.

    Example:
        >>> m = {"loss": [0.3, 0.1, 0.2], "best_epoch": 2, "epochs_done": 3}
        >>> checkpoint_epoch(m, "best"), checkpoint_epoch(m, "last"), checkpoint_epoch(m, 1)
        (2, 3, 1)
    """
    if which == "best":
        if "best_epoch" in metrics:
            return int(metrics["best_epoch"])
        losses = list(metrics["loss"])  # the first epoch with the lowest loss, as training saves it
        return losses.index(min(losses)) + 1
    if which == "last":
        return int(metrics.get("epochs_done") or len(metrics["loss"]))
    if isinstance(which, int) and not isinstance(which, bool) and which >= 1:
        return which
    raise ValueError(f"which={which!r} is not allowed; allowed: 'best', 'last' or an epoch number >= 1")


def summarise(name: str, runs: Sequence[Run], probe_seeds: Sequence[int], which: str | int = "best",
              **probe) -> dict:
    """One table row from the runs (one per pretraining seed) of a condition.

    The accuracies and the decorrelation come from the same checkpoint ``which`` (its epoch
    per run: ``decorrelation_epochs``); ``final_loss`` is the last epoch's training loss."""
    evals = [evaluate(r, probe_seeds, which, **probe) for r in runs]
    if len(runs) > 1:
        mean, std = mean_std([e["accuracy_mean"] for e in evals])
    else:
        mean, std = evals[0]["accuracy_mean"], evals[0]["accuracy_std"]
    ms = [r.metrics for r in runs]
    epochs = [checkpoint_epoch(m, which) for m in ms]
    decorrelation = [m["decorrelation"][e - 1] for m, e in zip(ms, epochs)]
    return {
        "condition": name,
        "accuracy_mean": mean,
        "accuracy_std": std,
        "accuracies": [a for e in evals for a in e["accuracies"]],
        "seed_accuracies": [e["accuracy_mean"] for e in evals],  # one per pretraining seed (claims pair them)
        "knn": mean_std([e.get("knn_accuracy") for e in evals])[0],
        "decorrelation": mean_std(decorrelation)[0],
        "decorrelation_epochs": epochs,
        "decorrelation_seeds": decorrelation,
        "decorrelation_n": ms[0].get("decorrelation_n"),
        "lr": runs[0].config.resolved_lr(),  # every row states the learning rate it trained at
        "final_loss": mean_std([m["loss"][-1] for m in ms])[0],
        "images_per_s": mean_std([statistics.fmean(m["images_per_s"]) for m in ms])[0],
        **runs_record(runs),
        "masker": runs[0].config.masker,
    }


def provenance(cfg: Config, **extra) -> dict:
    """The budget behind a result, for printing beside it."""
    import torch

    dev = resolve_device(cfg.device)
    return {
        "dataset": cfg.dataset,
        "image_size": cfg.image_size,
        "n_unlabeled": cfg.n_unlabeled,
        "n_labeled": cfg.n_labeled,
        "n_test": cfg.n_test,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "width": cfg.width,
        "device": dev,
        "device_name": torch.cuda.get_device_name() if dev == "cuda" else "CPU",
        "precision": "bf16" if uses_bf16(torch.device(dev), cfg) else "fp32",
        "focusmim": focusmim.__version__,
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        **{k: list(v) if isinstance(v, tuple) else v for k, v in extra.items()},
    }


def load_tables(name: str, root: str | Path | None = None) -> dict[str, Table]:
    """The published table ``name`` of every preset that has one, largest budget first:
    preset -> Table (from ``root``, default the book's :func:`~focusmim.experiments.results_dir`)."""
    out = {}
    root = Path(root) if root is not None else results_dir()
    for preset in sorted(PRESET_RANK, key=PRESET_RANK.get, reverse=True):
        p = root / preset / f"{name}.json"
        if p.exists():
            d = json.loads(p.read_text())
            out[preset] = Table(d["title"], d["rows"], d.get("meta", {}))
    return out
