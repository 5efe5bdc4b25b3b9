"""What a table's row records about its runs: the budget, the precision, the checkpoint, the provenance.

Example:
    >>> checkpoint_epoch({"loss": [0.3, 0.1, 0.2], "epochs_done": 3}, "last")
    3
"""
from __future__ import annotations

import statistics
import time
from typing import Mapping, Sequence

import focusmim
from focusmim.config import Config, resolve_device
from focusmim.training.objectives import uses_bf16
from focusmim.evaluation.probe import evaluate
from focusmim.store.runs import Run

from .tables import mean_std



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
        >>> from focusmim.store.runs import RunStore
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


