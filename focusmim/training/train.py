"""One pretraining loop for every objective, backed by the run store.

``pretrain(cfg)`` returns the finished :class:`~focusmim.store.runs.Run` for ``cfg``:
reused if the store has it, resumed from the last complete epoch if a previous
call was interrupted, trained otherwise. On the CPU a resumed run ends with
exactly the weights and metrics of an uninterrupted one: every epoch draws its
randomness from a generator seeded by (seed, epoch), and the optimiser state is
checkpointed with the weights.

Every time ``metrics.json`` is written, so is the training log ``metrics.csv`` (one row per
epoch: :func:`focusmim.store.runs.metrics_csv`). Two monitors are opt-in: ``Config.knn_every=N``
adds the test split's kNN accuracy every N epochs to the metrics, and ``Config.tensorboard``
writes scalars per epoch and a grid of masked input, reconstruction and target every few
epochs to ``<run>/tensorboard/`` (``tensorboard --logdir <run store>``).

Example:
    >>> import tempfile
    >>> from focusmim.config import make_config
    >>> from focusmim.store.runs import RunStore
    >>> cfg = make_config("smoke", epochs=1, n_unlabeled=64, batch_size=32, width=0.25)
    >>> run = pretrain(cfg, RunStore(tempfile.mkdtemp()), progress=False)
    >>> run.finished, len(run.metrics["loss"])
    (True, 1)
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import platform
import time
from typing import Any, Callable

import torch

import focusmim
# adios registers the ADIOS objectives, foreground 'rembg'
from focusmim.training import adios, distributed  # noqa: F401
from focusmim import models
from focusmim.training.augment import random_resized_crop
from focusmim.config import Config, ConfigError, resolve_device
from focusmim.data import load_for_config
from focusmim.training.objectives import OBJECTIVES, Batch, uses_bf16, uses_channels_last
from focusmim.utils.progress import progress_bar
from focusmim.store.runs import Run, RunStore

from .monitors import (HELD_OUT, KNN_K, _checkpoint_due, _held_out_decorrelation, _knn, _knn_sets, _log_epoch,
                       _tensorboard, image_due, knn_due, require_tensorboard)

__all__ = ["pretrain", "build_objective", "NonFiniteLossError", "epoch_generator", "augment_batch",
           "RunsPending", "collecting", "main_process", "follow", "require_tensorboard", "knn_due", "image_due",
           "captures_graphs"]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the checkpoints of the good epochs before it are kept."""


def _non_finite_message(what: str, cfg: Config, run: Run, epochs_done: int, best_epoch: int | None) -> str:
    """Say exactly which checkpoints the diverged run leaves (``epochs_done`` complete epochs)."""
    if epochs_done == 0:
        kept = f"no epoch completed, so no checkpoint is kept in {run.dir}"
    else:
        kept = f"last.pt (after epoch {epochs_done})"
        if best_epoch is not None:
            kept += f" and best.pt (epoch {best_epoch})"
        kept += f" are kept in {run.dir}; rerunning this config resumes from epoch {epochs_done} and diverges again"
    return f"{what} ({cfg.describe()}); {kept}: lower lr or change the config"


class RunsPending(Exception):
    """Raised inside :func:`collecting` instead of training: ``configs`` are the runs the
    code asked for that the store does not hold finished yet."""

    def __init__(self, configs: list[Config]):
        super().__init__(f"{len(configs)} run(s) not trained yet")
        self.configs = list(configs)


_COLLECTING: contextvars.ContextVar[bool] = contextvars.ContextVar("focusmim_collecting", default=False)


@contextlib.contextmanager
def collecting():
    """Within this block :func:`pretrain` trains nothing: a finished run is returned as
    usual, an unfinished one raises :class:`RunsPending` (and
    :func:`~focusmim.experiments.train_conditions` raises one listing all of its
    unfinished runs). The sweep (:mod:`focusmim.planning.sweep`) finds a chapter's runs this way.

        >>> import tempfile
        >>> from focusmim.config import make_config
        >>> with collecting():
        ...     pretrain(make_config("smoke"), RunStore(tempfile.mkdtemp()))
        Traceback (most recent call last):
        focusmim.training.train.RunsPending: 1 run(s) not trained yet
    """
    token = _COLLECTING.set(True)
    try:
        yield
    finally:
        _COLLECTING.reset(token)


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """The generator for one epoch: a pure function of (seed, epoch), so resuming
    needs no saved RNG state."""
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + epoch * 7_919 + 12_345) % (2**63 - 1))
    return g


def augment_batch(
    cfg: Config, x: torch.Tensor, fg: torch.Tensor | None, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random-resized-crop (and flip) applied identically to images and foreground."""
    if not (cfg.crop or cfg.flip):
        return x, fg
    both = x if fg is None else torch.cat([x, fg], 1)
    if cfg.crop:
        both = random_resized_crop(both, g, scale=tuple(cfg.crop_scale), flip=cfg.flip, fit=cfg.crop_fit)
    else:
        both = random_resized_crop(both, g, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=True)
    return (both, None) if fg is None else (both[:, :3], both[:, 3:])


def _lr_factor(cfg: Config, epoch: int) -> float:
    """Linear warmup then cosine decay (``schedule='cosine'``), or constant."""
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        return (epoch + 1) / cfg.warmup_epochs
    if cfg.schedule == "cosine":
        span = max(1, cfg.epochs - cfg.warmup_epochs)
        t = (epoch - cfg.warmup_epochs) / span
        return 0.5 * (1 + math.cos(math.pi * t))
    return 1.0


def _unwrap(m: torch.nn.Module) -> torch.nn.Module:
    return getattr(m, "_orig_mod", m)


def _state(objective, epoch: int, best_loss: float, metrics: dict) -> dict:
    return {
        "epoch": epoch,
        "best_loss": best_loss,
        "metrics": metrics,
        "modules": {k: _unwrap(m).state_dict() for k, m in objective.modules().items()},
        "optimizers": {k: o.state_dict() for k, o in objective.optimizers().items()},
    }


def build_objective(cfg: Config, device: torch.device):
    """The seeded model (``channels_last`` where :func:`~focusmim.training.objectives.uses_channels_last`
    says so) and its training objective (wrapping ``torch.compile(model)`` when ``cfg.compile``),
    as :func:`pretrain` and the pretraining benchmark build them: ``(model, objective)``.

        >>> from focusmim.config import make_config
        >>> model, objective = build_objective(make_config("smoke"), torch.device("cpu"))
        >>> type(model).__name__, sorted(objective.optimizers())
        ('ResidualAutoencoder', ['model'])
    """
    torch.manual_seed(cfg.seed)
    model = models.build_for_config(cfg).to(device)
    if uses_channels_last(device, cfg):
        model = model.to(memory_format=torch.channels_last)
    stepped = (torch.compile(model, mode=None if cfg.compile_mode == "default" else cfg.compile_mode)
               if cfg.compile else model)
    objective = OBJECTIVES.build(cfg.objective, cfg=cfg, model=stepped)
    return model, objective


def pretrain(cfg: Config, store: RunStore | None = None, *, progress: bool = True) -> Run:
    """Train (or reuse, or resume) the run for ``cfg`` and return it.

    The returned run's ``outcome`` says which: 'reused', 'resumed' or 'trained'. A
    per-run file lock (:meth:`~focusmim.store.runs.RunStore.lock`) is held while training,
    so a second worker given the same config waits and then reuses the result. Under
    torchrun (:mod:`focusmim.training.distributed`) rank 0 does all of that and the other ranks
    join the training loop only."""
    cfg = cfg.validate()
    store = store if store is not None else RunStore()
    ws = distributed.world_size()
    if ws > 1 and cfg.objective != "mim":
        raise ConfigError(f"objective={cfg.objective!r} does not train data-parallel yet (world_size={ws}); "
                          f"allowed under torchrun: 'mim'")
    if not distributed.is_main():  # a follower: rank 0 has taken the lock and announced this run
        return _train(cfg, store, progress=False)
    done = store.get(cfg)
    if done is not None:
        done.outcome = "reused"
        return done
    if _COLLECTING.get():
        raise RunsPending([cfg])
    if cfg.tensorboard:
        require_tensorboard()
    store.check_writable(cfg)  # a read-only or full disk is named before the lock and the data
    with store.lock(cfg):
        done = store.get(cfg)  # another worker may have finished it while we waited
        if done is not None:
            done.outcome = "reused"
            return done
        distributed.lead((cfg.to_dict(), str(store.root)))
        return _train(cfg, store, progress=progress)


def _train(cfg: Config, store: RunStore, *, progress: bool) -> Run:
    """The training loop of :func:`pretrain` (on every rank; only rank 0 writes)."""
    main, ws = distributed.is_main(), distributed.world_size()
    device = distributed.device_for(torch.device(resolve_device(cfg.device)))
    data = load_for_config(cfg, "unlabeled")  # raises clear errors before any training
    held = load_for_config(cfg.replace(foreground="none"), "test").images[:HELD_OUT]
    run = store.open(cfg) if main else Run(store.path(cfg), cfg)  # only rank 0 writes

    images = data.images.to(device)
    fg = None
    if cfg.foreground != "none":
        if data.foreground is None:
            raise ValueError(f"foreground={cfg.foreground!r} but dataset {cfg.dataset!r} gave no foreground maps")
        fg = data.foreground.to(device)
    index_all = torch.arange(len(images), device=device)

    model, objective = build_objective(cfg, device)
    for opt in objective.optimizers().values():
        for group in opt.param_groups:
            group.setdefault("base_lr", group["lr"])
        if ws > 1:  # each rank's loss is its share of the global batch's: sum the gradients
            opt.register_step_pre_hook(
                lambda o, args, kwargs: distributed.sum_gradients([p for g in o.param_groups for p in g["params"]]))

    metrics: dict = {"loss": [], "epoch_time": [], "images_per_s": [], "lr": [], "decorrelation": [],
                     "decorrelation_n": min(HELD_OUT, len(held)), "epochs_done": 0, "finished": False}
    if cfg.knn_every:
        metrics.update(knn_epochs=[], knn_accuracy=[], knn_k=KNN_K)
    start, best_loss = 0, math.inf
    run.outcome = "trained"
    if run.checkpoint_path("last").exists():  # resume (with any number of processes)
        run.outcome = "resumed"
        state = run.load_checkpoint("last", map_location=str(device))
        for k, m in objective.modules().items():
            _unwrap(m).load_state_dict(state["modules"][k])
        for k, o in objective.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        start, best_loss, metrics = state["epoch"], state["best_loss"], state["metrics"]

    knn_sets = _knn_sets(cfg) if cfg.knn_every and main else None  # loaded once, encoded every N epochs
    writer = _tensorboard(run, start) if cfg.tensorboard and main else None
    best_state, last_write = None, time.perf_counter()  # the best epoch's weights until written; last write
    n = len(images)
    metrics["pretraining_images"] = n  # after rembg's filter where the config has one (plans read it)
    bs = min(cfg.batch_size, n)
    steps = math.ceil(n / bs)
    graphs = captures_graphs(device, cfg)
    bar = progress_bar(total=cfg.epochs * steps, initial=start * steps, disable=not (progress and main),
                       desc=f"{cfg.objective}/{cfg.masker}", unit="step", smoothing=0.1)
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        factor = _lr_factor(cfg, epoch)
        for opt in objective.optimizers().values():
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * factor
        g = epoch_generator(cfg.seed, epoch, device)
        perm = torch.randperm(n, generator=g, device=device)
        for m in objective.modules().values():
            m.train()
        total = torch.zeros((), device=device, dtype=torch.float64)
        for s in range(steps):
            if graphs:  # a new iteration: the CUDA graphs may reuse the previous step's output memory
                torch.compiler.cudagraph_mark_step_begin()
            idx = perm[s * bs:(s + 1) * bs]
            raw = images[idx].float().div_(255)
            raw_f = None if fg is None else fg[idx].float().div_(255)
            x, f = augment_batch(cfg, raw, raw_f, g)
            out = objective.step(Batch(images=x, foreground=f, index=index_all[idx], generator=g,
                                       raw=raw, raw_foreground=raw_f,
                                       rows=distributed.rows(len(idx)) if ws > 1 else None))
            total += out["loss"].double() * len(idx)
            if device.type == "cpu" or s % 25 == 0 or s == steps - 1:
                val = float(out["loss"])
                if not math.isfinite(val):
                    bar.close()
                    raise NonFiniteLossError(_non_finite_message(
                        f"loss became {val} at epoch {epoch + 1}, step {s + 1}", cfg, run, epoch,
                        metrics.get("best_epoch")))
                bar.set_postfix(loss=f"{val:.4f}", refresh=False)
            bar.update(1)
        epoch_loss = float(distributed.all_sum(total)) / n
        if not math.isfinite(epoch_loss):
            bar.close()
            raise NonFiniteLossError(_non_finite_message(f"epoch {epoch + 1} loss is {epoch_loss}", cfg, run, epoch,
                                                         metrics.get("best_epoch")))
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if not main:  # only rank 0 evaluates and writes
            continue
        metrics["loss"].append(epoch_loss)
        metrics["epoch_time"].append(dt)
        metrics["images_per_s"].append(n / dt)
        metrics["lr"].append(objective.optimizers()[next(iter(objective.optimizers()))].param_groups[0]["lr"])
        metrics["decorrelation"].append(_held_out_decorrelation(_unwrap(model), held, device))
        if knn_sets is not None and knn_due(epoch + 1, cfg):
            metrics["knn_epochs"].append(epoch + 1)
            metrics["knn_accuracy"].append(_knn(_unwrap(model), knn_sets, device))
        metrics["epochs_done"] = epoch + 1
        if writer is not None:
            _log_epoch(writer, cfg, metrics, _unwrap(model), held, device)
        bar.set_postfix(loss=f"{epoch_loss:.4f}", img_s=f"{n / dt:.0f}")
        if (epoch + 1) in cfg.snapshot_epochs:
            run.save_checkpoint(epoch + 1, {"model": _unwrap(model).state_dict(), "epoch": epoch + 1,
                                            "modules": {k: _unwrap(m).state_dict()
                                                        for k, m in objective.modules().items() if k != "model"}})
        if epoch_loss < best_loss:
            best_loss = epoch_loss
            best_state = {"model": {k: v.detach().clone() for k, v in _unwrap(model).state_dict().items()},
                          "epoch": epoch + 1, "loss": epoch_loss}
            metrics["best_epoch"] = epoch + 1
        if _checkpoint_due(device, epoch + 1, cfg, last_write):
            # best.pt, then last.pt: a resume from last.pt never finds a best.pt older than its best epoch
            if best_state is not None:
                run.save_checkpoint("best", best_state)
                best_state = None
            run.save_checkpoint("last", _state(objective, epoch + 1, best_loss, metrics))
            run.save_metrics(metrics)  # metrics.json and the training log metrics.csv
            last_write = time.perf_counter()
    bar.close()
    if writer is not None:
        writer.close()
    if not main:
        return run
    metrics.update(_provenance(device))
    metrics["precision"] = "bf16 autocast" if uses_bf16(device, cfg) else "fp32"  # what this run trained in
    metrics["wall_time_s"] = float(sum(metrics["epoch_time"]))
    metrics["finished"] = True
    run.save_metrics(metrics)
    return run


def captures_graphs(device: torch.device, cfg: Config) -> bool:
    """Whether the compiled model's steps are CUDA graphs (``compile_mode`` 'reduce-overhead' or
    'max-autotune', on CUDA).

        >>> from focusmim.config import make_config
        >>> cfg = make_config("smoke", compile=True, compile_mode="reduce-overhead")
        >>> captures_graphs(torch.device("cuda"), cfg), captures_graphs(torch.device("cpu"), cfg)
        (True, False)
    """
    return device.type == "cuda" and cfg.compile and cfg.compile_mode in ("reduce-overhead", "max-autotune")


def _provenance(device: torch.device) -> dict:
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU {platform.machine()} ({torch.get_num_threads()} threads)")
    return {
        "device": str(device),
        "device_name": name,
        "threads": torch.get_num_threads(),
        "world_size": distributed.world_size(),  # processes that trained the last epochs (torchrun)
        "backend": distributed.backend(),  # their process group's backend, None for one process
        "torch": torch.__version__,
        "focusmim": focusmim.__version__,
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


# ----------------------------------------------------------------------------- torchrun
def follow() -> None:
    """Ranks other than 0: train every run rank 0 announces until it says it is done."""
    while True:
        msg = distributed.broadcast(None)
        if msg is None:
            return
        cfg, root = msg
        pretrain(Config.from_dict(cfg), RunStore(root), progress=False)


def main_process(command: Callable[[], Any]) -> Any:
    """Run ``command`` on rank 0 while the other ranks :func:`follow` it; returns its
    result on rank 0 and None elsewhere. A single process just runs ``command``.

    Example:
        >>> main_process(lambda: 7)
        7
    """
    distributed.init()
    if distributed.world_size() <= 1:
        return command()
    try:
        if not distributed.is_main():
            follow()
            return None
        try:
            return command()
        finally:
            distributed.lead(None)
    finally:
        torch.distributed.destroy_process_group()
