"""What a long command will do, said before it does it: the resolved plan.

:func:`plan_configs` turns the run configs of a job into a :class:`Plan`: preset,
data (the real image counts and the resize; the data's folder as the user named it,
see :func:`focusmim.data.base.shown_path`), device, epochs, how many runs and how
many are already in the run store, and an estimated pretraining wall time: one timed
training step per model shape (every strategy that shares the model shares it; on a
CPU at a small batch, scaled by FLOPs to the configured one), cached per machine and
shape under ``$FOCUSMIM_CACHE/timing/``, shared out over the processes the job uses,
plus ``torch.compile``'s one-time cost when the configs compile (measured on this
machine when known, else :data:`COMPILE_S`, measured on an H200). A dry run stays
within seconds at any preset. A chapter's configs come from its own compute
function run against a :class:`PlanningStore`, which records configs instead of
training (:func:`chapter_configs`), so the plan cannot drift from what the
chapter trains. :func:`focusmim.utils.progress.announce` prints the plan to the notebook (or terminal)
and, inside a Jupyter kernel, to the terminal that started it (papermill shows a
kernel's stderr only with ``--log-output``; the plan is written to the
terminal's own stream).

Example:
    >>> from focusmim.config import make_config
    >>> cfgs = [make_config("smoke", masker=m, epochs=1) for m in ("random_patches", "none")]
    >>> p = plan_configs(cfgs, preset="smoke", store=PlanningStore(), measure=False)
    >>> p.n_runs, p.n_stored, p.images["unlabeled"]
    (2, 0, 768)
    >>> print(p.format().splitlines()[0])
    Plan (preset smoke): 2 pretraining runs, 0 already stored, 2 to train
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import torch

from focusmim.config import Config, resolve_device
from focusmim.data import cifar10, imagefolder, imagenette, stl10, synthetic
from focusmim.data.base import shown_path
from focusmim.config.identity import key_fingerprint
from focusmim.experiments import worker_plan
from focusmim.config.presets import PRESET_RANK
from focusmim.store.runs import DamagedRunError, RunStore

from .recording import PlannedRun, PlanningStore, PlanStop, chapter_configs  # noqa: F401

__all__ = ["Plan", "PlanningStore", "PlanStop", "plan_configs", "chapter_configs", "chapter_plan",
           "data_summary", "kept_images", "step_seconds", "compile_seconds", "record_compile_seconds", "duration", "HOUR", "DAY"]

HOUR = 3600.0
DAY = 24 * HOUR


# ----------------------------------------------------------------------------- data
def data_summary(cfg: Config) -> dict:
    """Image counts per split as a run of ``cfg`` will use them, the source and the resize,
    from file names and sizes only (nothing decoded)."""
    avail: dict[str, int | None] = {}
    native, source = None, ""
    if cfg.dataset == "synthetic":
        avail = {s: None for s in ("unlabeled", "train", "test")}  # rendered on demand, any number
        native, source = cfg.image_size, f"generated here, version {synthetic.VERSION}"
    elif cfg.dataset == "imagefolder":
        s = imagefolder.survey(cfg.data_root)
        avail = dict(s["counts"])
        source = f"{shown_path(cfg.data_root)} ({s['layout']}; {len(s['classes'])} classes)"
        native = f"any size -> {imagefolder.RESIZE}"
    elif cfg.dataset == "imagenette":
        tree, native = imagenette.find_root(cfg.data_root), 96
        if tree is not None:
            s = imagefolder.survey(tree)
            avail, source = dict(s["counts"]), f"{shown_path(tree)} ({len(s['classes'])} classes)"
        else:  # the published set's sizes
            avail = {"unlabeled": 9469, "train": 9469, "test": 3925}
            source = "fast.ai's Imagenette" + (" (94 MB download if missing, converted to 96 px once)"
                                               if cfg.download else " (not found)")
    elif cfg.dataset == "cifar10":
        tree = cifar10.find_root(cfg.data_root)
        native = 32
        if tree is not None:
            cnt = {sp: sum(len(os.listdir(d)) for d in (tree / sp).iterdir() if d.is_dir()) for sp in ("train", "test")}
            avail = {"unlabeled": cnt["train"], "train": cnt["train"], "test": cnt["test"]}
            source = shown_path(tree)
        else:
            avail = {"unlabeled": 50000, "train": 50000, "test": 10000}
            source = "torchvision's files" + (" (downloaded if missing, with a progress bar)" if cfg.download else "")
    elif cfg.dataset == "stl10":
        native, tree = 96, stl10.find_root(cfg.data_root)
        avail = {"unlabeled": 100000, "train": 5000, "test": 8000}
        if tree is not None:
            for sp, (x, _) in stl10.FILES.items():
                f = tree / "stl10_binary" / x
                avail[sp] = f.stat().st_size // stl10.IMAGE_BYTES if f.is_file() else 0
            source = shown_path(tree)
        else:
            source = "torchvision's files" + (" (2.6 GB download if missing, with a progress bar)"
                                              if cfg.download else " (not found)")
    want = {"unlabeled": cfg.n_unlabeled, "train": cfg.n_labeled, "test": cfg.n_test}
    used = {}
    for sp, n in want.items():
        a = avail.get(sp)
        if cfg.dataset == "synthetic":
            a = synthetic.DEFAULT_SIZES[sp] if n is None else n
        used[sp] = a if n is None else (n if a is None else min(n, a))
    if isinstance(native, int):
        resize = f"{native} px" if native == cfg.image_size else f"resized from {native} to {cfg.image_size} px"
    else:
        resize = f"{native}, {cfg.image_size} px"
    return {"dataset": cfg.dataset, "source": source, "available": avail, "used": used, "resize": resize}


from .timing import (COMPILE_MEASURED_ON, COMPILE_S, LOWER_BOUND_RATIO, TIMING_PIXELS,  # noqa: F401
                     _compile_key, _learn_compile, _pretraining_images, _timing_key, _trained_step_seconds,
                     compile_seconds, machine, record_compile_seconds,
                     step_seconds, timed_batch)


# ----------------------------------------------------------------------------- the plan
@dataclass
class Plan:
    """A job's resolved plan (see :func:`plan_configs`)."""

    label: str
    preset: str
    preset_note: str
    configs: list
    n_stored: int
    n_partial: int
    epochs: list
    images: dict
    data: dict
    device: str
    estimate_s: float | None
    detail: str = ""
    notes: list = field(default_factory=list)
    lower_bound: bool = False  # the estimate scales a small CPU batch far up (see LOWER_BOUND_RATIO)

    @property
    def n_runs(self) -> int:
        return len(self.configs)

    def slow_on_cpu(self) -> bool:
        return self.device.startswith("CPU") and (self.estimate_s or 0.0) > HOUR

    def _about(self) -> str:
        return "at least" if self.lower_bound else "about"

    def advice(self) -> str:
        """What a long CPU plan is told: a GPU for the smaller presets; for the presets
        made for a GPU ('gpu', 'paper'), that they are, and the smaller budgets."""
        rank = PRESET_RANK.get(self.preset, 0)
        cpu_sized = min(rank, PRESET_RANK["gpu"])  # only budgets made for a CPU are offered here
        smaller = [p for p, r in sorted(PRESET_RANK.items(), key=lambda kv: kv[1]) if r < cpu_sized]
        fewer = "fewer epochs, e.g. -p epochs 20 / --epochs 20"
        budget = (f"a smaller budget (preset {' or '.join(repr(p) for p in reversed(smaller))}, or {fewer})"
                  if smaller else f"a smaller budget ({fewer})")
        busy = f"this would keep this CPU busy for {self._about()} {duration(self.estimate_s or 0.0)}."
        if rank >= PRESET_RANK["gpu"]:
            return (f"{busy} Preset {self.preset!r} is made for a GPU and none is used here: run it on a machine "
                    f"with a GPU, or choose {budget}. Check first with dry_run=True / --dry-run.")
        return (f"{busy} Faster: a machine with a GPU (preset 'gpu' or 'paper'), or {budget}. "
                "Check first with dry_run=True / --dry-run.")

    def format(self) -> str:
        c = self.configs[0] if self.configs else None
        todo = self.n_runs - self.n_stored
        head = (f"Plan{f' for {self.label}' if self.label else ''} (preset {self.preset}{self.preset_note}): "
                f"{self.n_runs} pretraining run{'s' * (self.n_runs != 1)}, {self.n_stored} already stored"
                f"{f' ({self.n_partial} of the others partly trained, resumed)' if self.n_partial else ''}, "
                f"{todo} to train")
        lines = [head]
        if c is not None:
            u, d = self.images, self.data
            lines.append(f"  data: {c.dataset} ({d['source']}): {u['unlabeled']} pretraining images, "
                         f"{u['train']} labeled for the probe, {u['test']} test; {d['resize']}")
            lines.append(f"  training: epochs {_span(self.epochs)}, batch {_span(sorted({x.batch_size for x in self.configs}))},"
                         f" model {_span(sorted({x.model for x in self.configs}))} on {self.device}")
        if todo == 0:
            lines.append("  estimate: nothing to train; stored runs are reused")
        elif self.estimate_s is not None:
            lines.append(f"  estimate: {self._about()} {duration(self.estimate_s)} of pretraining ({self.detail}); "
                         "probes and evaluations come on top")
        if self.slow_on_cpu():
            lines.append(f"  WARNING: {self.advice()}")
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def _span(values: Sequence) -> str:
    values = list(dict.fromkeys(values))
    return ", ".join(map(str, values)) if len(values) <= 4 else f"{values[0]} ... {values[-1]}"


def duration(s: float) -> str:
    """A wall time as people say it: seconds, minutes, hours or days.

        >>> duration(42), duration(1500), duration(5 * 3600), duration(4687.7 * 3600)
        ('42 s', '25 min', '5.0 h', '195 days')
    """
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 2 * DAY:
        return f"{s / HOUR:.1f} h"
    return f"{s / DAY:.0f} days"


def plan_configs(configs: Sequence[Config], *, preset: str, label: str = "", preset_note: str = "",
                 store: RunStore | None = None, measure: bool = True, notes: Sequence[str] = (),
                 workers: int | None = 1) -> Plan:
    """The :class:`Plan` for training ``configs`` (duplicates counted once) against ``store``.

    The estimate is the wall time of the runs left to train: their steps at the
    :func:`step_seconds` of each model shape, shared out over ``workers`` processes
    (``None``: as many as :func:`focusmim.experiments.worker_plan` gives, as the CLI
    does; each then has its share of the threads), plus, for compiled configs,
    :func:`compile_seconds` once per model shape."""
    store = store if store is not None else RunStore()
    real = RunStore(store.root)
    unique = list({c.key(): c for c in configs}.values())
    first = unique[0] if unique else None
    data = data_summary(first) if first is not None else {"used": {}}

    kept_cache: dict = {}
    unfiltered: list = []  # rembg configs whose filter's count is not known yet

    def batch(c: Config) -> tuple[int, int]:
        """(images a run of ``c`` pretrains on, its batch size)"""
        n = data_summary(c)["used"]["unlabeled"] if c.dataset != first.dataset or c.data_root != first.data_root \
            else data["used"]["unlabeled"]
        if c.foreground == "rembg":  # the paper's filter drops the images where rembg finds no object
            k = kept_images(c, real, kept_cache)
            if k is None:
                unfiltered.append(c)
            n = k if k is not None else n
        return n, min(c.batch_size, n)

    stored, partial, todo = 0, 0, []
    dev = resolve_device(first.device) if first is not None else "cpu"
    trained: dict[str, list[float]] = {}  # timing key -> seconds a step in the finished runs trained here
    for c in unique:
        d = real.path(c)
        m = json.loads((d / "metrics.json").read_text()) if (d / "metrics.json").exists() else {}
        if m.get("finished"):
            stored += 1
            bs = batch(c)[1]
            if c.compile:  # a compiled run trained here tells how long compiling took
                _learn_compile(c, m, bs)
            sec = _trained_step_seconds(c, m, bs)
            if sec is not None:
                trained.setdefault(json.dumps(_timing_key(c, bs, dev), sort_keys=True, default=str), []).append(sec)
            continue
        partial += bool(m.get("epochs_done"))
        todo.append((c, int(m.get("epochs_done", 0))))
    device = (torch.cuda.get_device_name() if dev.startswith("cuda")
              else f"CPU ({torch.get_num_threads()} threads)")
    estimate, detail, lower = None, "", False
    if todo and measure:
        if workers is None:
            procs, threads = worker_plan(dev, len(todo))
        else:
            procs = max(1, min(int(workers), len(todo)))
            threads = max(1, torch.get_num_threads() // procs)
        threads = threads if procs > 1 and not dev.startswith("cuda") else None
        total, shapes, n_steps, compiles, learned = 0.0, {}, 0, {}, 0
        for c, done in todo:
            n, bs = batch(c)
            k = json.dumps(_timing_key(c, bs, dev), sort_keys=True, default=str)
            if k not in shapes and k in trained and threads is None:  # this job's runs already trained here
                shapes[k] = (sorted(trained[k])[len(trained[k]) // 2], bs, bs)
                learned += 1
            if k not in shapes:
                shapes[k] = (step_seconds(c, bs, threads=threads), timed_batch(c, bs, dev), bs)
            steps = math.ceil(n / bs) * (c.epochs - done)
            total += steps * shapes[k][0]
            n_steps += steps
            if c.compile:
                compiles.setdefault(json.dumps(_compile_key(c, bs, dev), sort_keys=True, default=str),
                                    compile_seconds(c, bs))
        estimate = total / procs + sum(sec for sec, _ in compiles.values())
        timed = sorted({(b, bs) for _, b, bs in shapes.values()})
        how = ("as the stored runs of this job took here" if learned == len(shapes) else
               "measured here" if all(b == bs for b, bs in timed) else
               f"measured here at batch {_span([b for b, _ in timed])} and scaled by FLOPs to batch "
               f"{_span([bs for _, bs in timed])}")
        lower = not dev.startswith("cuda") and any(bs > LOWER_BOUND_RATIO * b for b, bs in timed)
        if lower:
            how += " (a lower bound: on a CPU a large batch costs more per image than a small one)"
        detail = f"{_span([f'{x:.2g}' for x, _, _ in shapes.values()])} s a step {how}, {n_steps} steps in all"
        if procs > 1:
            detail += f", {procs} runs at a time" + (f" ({threads} thread{'s' * (threads != 1)} each)" if threads else "")
        if compiles:
            measured = [m for _, m in compiles.values()]
            secs = _span([f"{sec:.0f}" for sec, _ in compiles.values()])
            source = ("measured on this machine" if all(measured) else
                      f"measured on {COMPILE_MEASURED_ON}; none measured on this machine yet" if not any(measured) else
                      f"measured on this machine where known, else on {COMPILE_MEASURED_ON}")
            detail += (f"; plus torch.compile, {secs} s once per process and model shape "
                       f"({len(compiles)} shape{'s' * (len(compiles) != 1)}; {source})")
    notes = list(notes)
    if unfiltered and estimate is not None:
        notes.append("the estimate counts every pretraining image: rembg's filter will drop those without an "
                     "object (about two thirds of CIFAR-10), which no stored run of this data has counted yet")
    elif kept_cache and estimate is not None:
        counts = sorted({v for v in kept_cache.values() if v is not None})
        notes.append(f"pretraining images after rembg's filter: {_span(counts)} (as stored runs of this data counted)")
    return Plan(label, preset, preset_note, unique, stored, partial, sorted({c.epochs for c in unique}),
                data.get("used", {}), data, device, estimate, detail, notes, lower)


# what decides which images a run pretrains on (the filter's input): runs that agree on these kept the same images
_DATA_FIELDS = ("dataset", "data_root", "image_size", "n_unlabeled", "foreground")


def kept_images(cfg: Config, store: RunStore, cache: dict | None = None) -> int | None:
    """How many pretraining images a run of ``cfg`` keeps after rembg's filter, as a stored
    run of the same data counted them (its ``pretraining_images``, or for runs stored before
    that field, images/s times an epoch's seconds); None when no such run is stored.

        >>> import tempfile
        >>> from focusmim.config import make_config
        >>> kept_images(make_config("smoke", foreground="rembg"), RunStore(tempfile.mkdtemp())) is None
        True
    """
    cache = {} if cache is None else cache
    want = tuple(str(getattr(cfg, k)) for k in _DATA_FIELDS)  # the same fields name the same files
    if want in cache:
        return cache[want]
    cache[want] = None
    fingerprint = key_fingerprint(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an unreadable run is store verify's business, not the plan's
        runs = store.runs()
    for run in runs:
        c = run.config
        if c.foreground != "rembg" or tuple(str(getattr(c, k)) for k in _DATA_FIELDS) != want:
            continue
        try:
            n = _pretraining_images(run.metrics)
        except DamagedRunError:  # named by store verify and by the run's own reader
            continue
        if n is not None and key_fingerprint(c) == fingerprint:
            cache[want] = n
            break
    return cache[want]


def chapter_plan(name: str, nb, *, preset_note: str = "", measure: bool = True) -> Plan:
    """The plan of chapter ``name`` for the notebook context ``nb``."""
    cfgs = chapter_configs(name, nb)
    return plan_configs(cfgs or [nb.base], preset=nb.preset, label=name, preset_note=preset_note, measure=measure,
                        notes=[PROGRESS_NOTE])


PROGRESS_NOTE = ("progress: in a notebook run by papermill, each training run's bar is written to the terminal "
                 "that started it (no --log-output needed)")
