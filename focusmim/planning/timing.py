"""How long a training step takes here: timed once per model shape and machine, cached under
``$FOCUSMIM_CACHE/timing/``, and learned from the runs this machine trained (their epochs' times and the first
epoch's compile time). The plan (:mod:`focusmim.planning.plan`) turns these into a job's wall time.

Example:
    >>> machine("cpu").endswith("threads)")
    True
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import platform
import time
from pathlib import Path

import torch

from focusmim import __version__
from focusmim.config import Config, resolve_device
from focusmim.data.base import default_cache_dir
from focusmim.utils.io import atomic_write_text
from focusmim.training.objectives import Batch
from focusmim.training.train import augment_batch, build_objective


# ----------------------------------------------------------------------------- timing
# A CPU step is timed at a small batch of this many pixels (64 images at 32 px, 7 at 96 px) and scaled to the
# configured batch by FLOPs, which grow linearly with the batch: a dry run stays quick at any preset on 2 cores.
# Measured on 2 cores (1 thread, the paper's autoencoder): at 32 px 3.65 ms an image at batch 64, 3.81 at 256; at
# 96 px 33 ms at batch 7, 40 at 112, but 86 at 512 (memory-bound). Far beyond the timed batch
# (LOWER_BOUND_RATIO), the plan calls its CPU estimate a lower bound.
TIMING_PIXELS = 64 * 32 * 32
LOWER_BOUND_RATIO = 8
# torch.compile's one-time cost when nothing was measured on this machine: the first run of
# `focusmim run --preset gpu --epochs 3 --seeds 0` spent about 35 s compiling on an H200 (planned 23 s, took 63 s).
COMPILE_S = 35.0
COMPILE_MEASURED_ON = "an H200"


def machine(device: str) -> str:
    """The compute device timings are kept for: the GPU's name, or the CPU's model and thread count."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name()
    return f"{_cpu_model()} ({torch.get_num_threads()} threads)"


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def _provenance_name(device: str) -> str:
    """This device as :mod:`focusmim.training.train` records it in a run's metrics (``device_name``)."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name()
    return f"CPU {platform.machine()} ({torch.get_num_threads()} threads)"


def timed_batch(cfg: Config, batch: int, device: str) -> int:
    """The batch size a step of ``cfg`` is timed at: the real one on a GPU, at most
    :data:`TIMING_PIXELS` pixels on a CPU."""
    if device.startswith("cuda"):
        return batch
    return max(1, min(batch, TIMING_PIXELS // (cfg.image_size * cfg.image_size)))


def _timing_key(cfg: Config, batch: int, device: str) -> dict:
    """What a step's time depends on: the machine, the versions, the model and its input
    (not the masker: every strategy that shares a model shares its timing)."""
    keep = ("model", "width", "image_size", "objective", "objective_params", "crop", "flip", "amp", "cpu_amp")
    return {"device": machine(device), "torch": torch.__version__, "focusmim": __version__, "batch": batch,
            "foreground": cfg.foreground != "none", **{k: getattr(cfg, k) for k in keep}}


def _cache_file(kind: str, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return default_cache_dir() / "timing" / f"{kind}{digest}.json"


def step_seconds(cfg: Config, batch: int, *, cache: bool = True, threads: int | None = None) -> float:
    """Seconds one training step of ``cfg``'s model and objective takes at batch size
    ``batch`` on ``cfg``'s device, without ``torch.compile``.

    On a GPU the step is timed at ``batch``; on a CPU at :func:`timed_batch` (a few
    images) and scaled by FLOPs (linear in the batch). One warm-up step, then the
    fastest of 3 timed steps (2 when they take over a second), with
    ``threads`` torch threads (default: the current number). Cached under
    ``$FOCUSMIM_CACHE/timing/`` by machine, versions, model and input size, so every
    strategy that shares a model is timed once."""
    device = resolve_device(cfg.device)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        small = timed_batch(cfg, batch, device)
        key = _timing_key(cfg, small, device)
        path = _cache_file("", key)
        sec = None
        if cache and path.exists():
            try:
                sec = float(json.loads(path.read_text())["seconds_per_step"])
            except (OSError, ValueError, KeyError):
                sec = None
        if sec is None:
            sec = _time_step(cfg, small, torch.device(device))
            if cache:
                try:
                    atomic_write_text(json.dumps({"seconds_per_step": sec, "measured": time.strftime("%Y-%m-%d %H:%M"),
                                                  **key}, default=str, indent=1), path)
                except OSError:
                    pass
    finally:
        torch.set_num_threads(old_threads)
    return sec * batch / small


def _time_step(cfg: Config, batch: int, dev: torch.device) -> float:
    state = torch.get_rng_state()
    _, objective = build_objective(cfg.replace(compile=False), dev)
    torch.set_rng_state(state)  # timing leaves the global random state as it found it
    g = torch.Generator(device=dev).manual_seed(0)
    s = cfg.image_size
    raw = torch.rand(batch, 3, s, s, generator=g, device=dev)
    raw_f = torch.rand(batch, 1, s, s, generator=g, device=dev) if cfg.foreground != "none" else None
    index = torch.arange(batch, device=dev)

    def step() -> float:
        t0 = time.perf_counter()
        x, f = augment_batch(cfg, raw, raw_f, g)
        out = objective.step(Batch(images=x, foreground=f, index=index, generator=g, raw=raw, raw_foreground=raw_f))
        float(out["loss"])
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    step()  # warm-up: lazy initialisation, kernel selection
    times = [step(), step()]
    if sum(times) < 2.0:
        times.append(step())
    return min(times)  # the fastest: other work on a shared machine only slows a step down


def _compile_key(cfg: Config, batch: int, device: str) -> dict:
    keep = ("model", "width", "image_size", "objective", "objective_params", "amp", "cpu_amp", "compile_mode")
    return {"device": _provenance_name(device), "torch": torch.__version__, "batch": batch,
            **{k: getattr(cfg, k) for k in keep}}


def record_compile_seconds(cfg: Config, batch: int, seconds: float, *, source: str = "") -> None:
    """Keep a measured ``torch.compile`` time of ``cfg``'s model at ``batch`` on this machine
    (``$FOCUSMIM_CACHE/timing/``), for the next plans of the same shape."""
    key = _compile_key(cfg, batch, resolve_device(cfg.device))
    try:
        atomic_write_text(json.dumps({"seconds": float(seconds), "source": source,
                                      "measured": time.strftime("%Y-%m-%d %H:%M"), **key}, default=str, indent=1),
                          _cache_file("compile-", key))
    except OSError:
        pass


def compile_seconds(cfg: Config, batch: int) -> tuple[float, bool]:
    """``(seconds, measured)``: ``torch.compile``'s one-time cost for ``cfg``'s model at
    ``batch``: the value measured on this machine when one is cached (see
    :func:`record_compile_seconds`), else :data:`COMPILE_S` (measured on an H200)."""
    path = _cache_file("compile-", _compile_key(cfg, batch, resolve_device(cfg.device)))
    try:
        return float(json.loads(path.read_text())["seconds"]), True
    except (OSError, ValueError, KeyError):
        return COMPILE_S, False


def _trained_here(cfg: Config, metrics: dict) -> bool:
    """Whether a run's metrics were recorded on this machine's device by this torch, in one process."""
    return (metrics.get("device_name") == _provenance_name(resolve_device(cfg.device))
            and metrics.get("torch") == torch.__version__ and metrics.get("world_size", 1) == 1)


def _pretraining_images(metrics: dict) -> int | None:
    """The images a run pretrained on (after rembg's filter): its ``pretraining_images``, or for runs
    stored before that field, its first epoch's images/s times seconds; None when neither is recorded."""
    if metrics.get("pretraining_images"):
        return int(metrics["pretraining_images"])
    if metrics.get("images_per_s") and metrics.get("epoch_time"):
        return round(float(metrics["images_per_s"][0]) * float(metrics["epoch_time"][0]))
    return None


def _trained_step_seconds(cfg: Config, metrics: dict, batch: int) -> float | None:
    """Seconds a step took in a finished run of ``cfg`` trained here by one process: the median epoch
    (the first left out when there are later ones: it may have compiled) over its steps; None when the
    run was trained elsewhere, by other versions or several processes, or recorded too little."""
    times = [float(t) for t in metrics.get("epoch_time") or []]
    n = _pretraining_images(metrics)
    if not times or not n or not _trained_here(cfg, metrics):
        return None
    times = sorted(times[1:] or times)
    return times[len(times) // 2] / math.ceil(n / min(batch, n))


def _learn_compile(cfg: Config, metrics: dict, batch: int) -> None:
    """A finished compiled run trained on this machine tells its compile time: its first
    epoch's extra time over the fastest later epoch."""
    times = metrics.get("epoch_time") or []
    if not cfg.compile or len(times) < 2 or not _trained_here(cfg, metrics):
        return
    extra = float(times[0]) - min(float(t) for t in times[1:])
    if extra > 0 and not compile_seconds(cfg, batch)[1]:
        record_compile_seconds(cfg, batch, extra, source="first epoch minus the fastest later epoch of a stored run")
