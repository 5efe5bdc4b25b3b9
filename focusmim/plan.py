"""What a long command will do, said before it does it: the resolved plan.

:func:`plan_configs` turns the run configs of a job into a :class:`Plan`: preset,
data (the real image counts and the resize), device, epochs, how many runs and
how many are already in the run store, and an estimated pretraining wall time
from a few timed training steps of the real model and masker at the configured
batch size on this device (cached per device and config shape under
``$FOCUSMIM_CACHE/timing/``). A chapter's configs come from its own compute
function run against a :class:`PlanningStore`, which records configs instead of
training (:func:`chapter_configs`), so the plan cannot drift from what the
chapter trains. :func:`focusmim.progress.announce` prints the plan to the notebook (or terminal)
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

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from focusmim import __version__, chapters
from focusmim.config import Config, resolve_device
from focusmim.data import cifar10, imagefolder, imagenette, stl10, synthetic
from focusmim.data.base import default_cache_dir
from focusmim.io import atomic_write_text
from focusmim.objectives import Batch
from focusmim.runs import RunStore
from focusmim.train import augment_batch, build_objective

__all__ = ["Plan", "PlanningStore", "PlanStop", "plan_configs", "chapter_configs", "chapter_plan",
           "data_summary", "step_seconds", "HOUR"]

HOUR = 3600.0


class PlanStop(Exception):
    """Raised when planning code asks a planned (untrained) run for results: the
    configs recorded so far are the plan."""


class PlannedRun:
    """Stands for a run while planning: its config and folder, nothing trained.
    Asking it for anything else (metrics, checkpoints, evaluations) raises :class:`PlanStop`."""

    def __init__(self, directory: Path, config: Config):
        self.dir, self.config = directory, config

    def __getattr__(self, item: str) -> Any:
        raise PlanStop(item)


class PlanningStore(RunStore):
    """A run store that records the configs a job would train instead of training them.
    :func:`focusmim.experiments.train_conditions` and ``compare`` check ``store.planning``."""

    planning = True

    def __init__(self, root=None):
        super().__init__(root)
        self.configs: list[Config] = []

    def record(self, cfgs: Sequence[Config]) -> list[PlannedRun]:
        self.configs += list(cfgs)
        return [PlannedRun(self.path(c), c) for c in cfgs]


def chapter_configs(name: str, nb) -> list[Config]:
    """Every config chapter ``name``'s compute function would train for the notebook
    context ``nb`` (run on a copy of ``nb`` against a :class:`PlanningStore`)."""
    store = PlanningStore()
    copy = dataclasses.replace(nb, extra=dict(nb.extra))
    try:
        chapters.compute(name, copy, store=store, progress=False)
    except PlanStop:
        pass
    return store.configs


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
        source = f"{cfg.data_root} ({s['layout']}; {len(s['classes'])} classes)"
        native = f"any size -> {imagefolder.RESIZE}"
    elif cfg.dataset == "imagenette":
        tree, native = imagenette.find_root(cfg.data_root), 96
        if tree is not None:
            s = imagefolder.survey(tree)
            avail, source = dict(s["counts"]), f"{tree} ({len(s['classes'])} classes)"
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
            source = str(tree)
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
            source = str(tree)
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


# ----------------------------------------------------------------------------- timing
def _timing_key(cfg: Config, batch: int, device: str) -> dict:
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"cpu{torch.get_num_threads()}"
    keep = ("model", "width", "image_size", "masker", "ratio", "masker_params", "objective", "objective_params",
            "crop", "flip", "amp", "cpu_amp")
    return {"device": name, "torch": torch.__version__, "focusmim": __version__, "batch": batch,
            "foreground": cfg.foreground != "none", **{k: getattr(cfg, k) for k in keep}}


def step_seconds(cfg: Config, batch: int, *, cache: bool = True) -> float:
    """Seconds one training step of ``cfg``'s model, masker and objective takes at batch
    size ``batch`` on ``cfg``'s device: one warm-up step, then up to 3 timed steps
    (1 when a step takes over a second), without ``torch.compile``. Cached under
    ``$FOCUSMIM_CACHE/timing/`` by device, versions and config shape."""
    device = resolve_device(cfg.device)
    key = _timing_key(cfg, batch, device)
    path = default_cache_dir() / "timing" / (hashlib.sha256(json.dumps(key, sort_keys=True, default=str)
                                                            .encode()).hexdigest()[:20] + ".json")
    if cache and path.exists():
        try:
            return float(json.loads(path.read_text())["seconds_per_step"])
        except (OSError, ValueError, KeyError):
            pass
    dev = torch.device(device)
    state = torch.get_rng_state()
    _, objective = build_objective(cfg.replace(compile=False), dev)
    torch.set_rng_state(state)  # timing leaves the global random state as it found it
    g = torch.Generator(device=dev).manual_seed(0)
    s = cfg.image_size
    raw = torch.rand(batch, 3, s, s, generator=g, device=dev)
    raw_f = torch.rand(batch, 1, s, s, generator=g, device=dev) if cfg.foreground != "none" else None
    index = torch.arange(batch, device=dev)

    def step():
        x, f = augment_batch(cfg, raw, raw_f, g)
        out = objective.step(Batch(images=x, foreground=f, index=index, generator=g, raw=raw, raw_foreground=raw_f))
        float(out["loss"])
        if dev.type == "cuda":
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    reps = 1 if first > 1.0 else 3
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    sec = (time.perf_counter() - t0) / reps
    if cache:
        try:
            atomic_write_text(json.dumps({"seconds_per_step": sec, "measured": time.strftime("%Y-%m-%d %H:%M"),
                                          **key}, default=str, indent=1), path)
        except OSError:
            pass
    return sec


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

    @property
    def n_runs(self) -> int:
        return len(self.configs)

    def slow_on_cpu(self) -> bool:
        return self.device.startswith("CPU") and (self.estimate_s or 0.0) > HOUR

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
            lines.append(f"  estimate: about {_duration(self.estimate_s)} of pretraining ({self.detail}); "
                         "probes and evaluations come on top")
        if self.slow_on_cpu():
            lines.append(f"  WARNING: this would keep this CPU busy for about {_duration(self.estimate_s)}. Faster: "
                         "a machine with a GPU (preset 'gpu' or 'paper'), or a smaller budget (preset 'smoke', or "
                         "fewer epochs, e.g. -p epochs 20 / --epochs 20). Check first with dry_run=True / --dry-run.")
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def _span(values: Sequence) -> str:
    values = list(dict.fromkeys(values))
    return ", ".join(map(str, values)) if len(values) <= 4 else f"{values[0]} ... {values[-1]}"


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    return f"{s / HOUR:.1f} h"


def plan_configs(configs: Sequence[Config], *, preset: str, label: str = "", preset_note: str = "",
                 store: RunStore | None = None, measure: bool = True, notes: Sequence[str] = ()) -> Plan:
    """The :class:`Plan` for training ``configs`` (duplicates counted once) against ``store``."""
    store = store if store is not None else RunStore()
    real = RunStore(store.root)
    unique = list({c.key(): c for c in configs}.values())
    stored, partial, todo = 0, 0, []
    for c in unique:
        d = real.path(c)
        m = json.loads((d / "metrics.json").read_text()) if (d / "metrics.json").exists() else {}
        if m.get("finished"):
            stored += 1
            continue
        partial += bool(m.get("epochs_done"))
        todo.append((c, int(m.get("epochs_done", 0))))
    first = unique[0] if unique else None
    data = data_summary(first) if first is not None else {"used": {}}
    dev = resolve_device(first.device) if first is not None else "cpu"
    device = (torch.cuda.get_device_name() if dev.startswith("cuda")
              else f"CPU ({torch.get_num_threads()} threads)")
    estimate, detail = None, ""
    if todo and measure:
        total, shapes, n_steps = 0.0, {}, 0
        for c, done in todo:
            n = data_summary(c)["used"]["unlabeled"] if c.dataset != first.dataset or c.data_root != first.data_root \
                else data["used"]["unlabeled"]
            bs = min(c.batch_size, n)
            k = json.dumps(_timing_key(c, bs, dev), sort_keys=True, default=str)
            if k not in shapes:
                shapes[k] = step_seconds(c, bs)
            steps = math.ceil(n / bs) * (c.epochs - done)
            total += steps * shapes[k]
            n_steps += steps
        estimate = total
        detail = f"{_span([f'{x:.2g}' for x in shapes.values()])} s a step measured here, {n_steps} steps in all"
    return Plan(label, preset, preset_note, unique, stored, partial, sorted({c.epochs for c in unique}),
                data.get("used", {}), data, device, estimate, detail, list(notes))


def chapter_plan(name: str, nb, *, preset_note: str = "", measure: bool = True) -> Plan:
    """The plan of chapter ``name`` for the notebook context ``nb``."""
    cfgs = chapter_configs(name, nb)
    return plan_configs(cfgs or [nb.base], preset=nb.preset, label=name, preset_note=preset_note, measure=measure,
                        notes=[PROGRESS_NOTE])


PROGRESS_NOTE = ("progress: in a notebook run by papermill, each training run's bar is written to the terminal "
                 "that started it (no --log-output needed)")
