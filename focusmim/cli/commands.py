"""The commands beside ``run``: ``publish``, ``store`` (verify, gc, list), ``precompute`` (chapters'
runs, here or as submitit jobs) and ``maps`` (foreground maps).
"""
from __future__ import annotations
import json
import sys
import time
from pathlib import Path
from focusmim import chapters
from focusmim.data import foreground
from focusmim.planning import sweep
from focusmim.config import ConfigError, make_config
from focusmim.experiments import publish
from focusmim.book.notebook import setup
from focusmim.store.runs import RunStore



def _publish(args) -> int:
    try:
        done = publish(args.presets or None, src=args.src, dst=args.dst)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for src, target, changed in done:
        print(f"{'updated  ' if changed else 'unchanged'} {target}  (from {src})")
    n = sum(c for _, _, c in done)
    print(f"{n} of {len(done)} tables changed; `python -m focusmim summary` rewrites the results page from them")
    return 0


def _fields(pairs: list[str]) -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values as JSON, else strings).

        >>> _fields(["weight_decay=0.05", "crop_scale=[0.2, 1]", "masker=foveal"])
        {'weight_decay': 0.05, 'crop_scale': [0.2, 1], 'masker': 'foveal'}
    """

    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set {pair!r} is not allowed; allowed: NAME=VALUE, e.g. --set weight_decay=0.05")
        try:
            out[name] = json.loads(value)
        except json.JSONDecodeError:
            out[name] = value
    return out


def _store(args) -> int:
    """``store verify``: a table of every run (exit 1 when one is damaged); ``store gc``."""

    store = RunStore(args.root)
    if args.root is not None and not Path(args.root).is_dir():
        raise FileNotFoundError(f"--root={args.root!r}: no such folder")
    if args.action == "gc":
        gone = store.gc()
        print(f"removed {len(gone)} temporary file(s) under {store.root}")
        return 0
    rows = store.verify()
    width = max([len(r["run"]) for r in rows] + [3])
    print(f"{'run':<{width}}  {'status':<11}  detail")
    for r in rows:
        print(f"{r['run']:<{width}}  {r['status']:<11}  {r['detail']}")
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "legacy", "damaged", "quarantined")}
    print(f"{len(rows)} run folder(s) under {store.root}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 1 if counts["damaged"] else 0


def _precompute(args) -> int:

    names = args.chapters or chapters.REGISTRY.names()
    for name in names:
        chapters.REGISTRY.check(name, "chapter")  # every name checked before any work starts
    if args.executor:
        return _sweep(args, names)
    for name in names:
        t0 = time.perf_counter()
        nb = setup(name, preset=args.preset, epochs=args.epochs, dataset=args.dataset, n_unlabeled=args.n_unlabeled,
                   data_root=args.data_root)  # prints the chapter's plan
        if args.dry_run:
            continue
        chapters.compute(name, nb)
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


def _sweep(args, names) -> int:
    store = RunStore()
    try:
        executor = sweep.make_executor(args.executor, args.jobs_dir or store.root / ".jobs", partition=args.partition,
                                       gpus_per_job=args.gpus_per_job, time_min=args.time_min,
                                       cpus_per_job=args.cpus_per_job, max_parallel=args.max_parallel)
        sweep.precompute(names, lambda name: setup(name, preset=args.preset, epochs=args.epochs,
                                                   dataset=args.dataset, n_unlabeled=args.n_unlabeled),
                         executor, store)
    except sweep.SweepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"chapters {', '.join(names)}: runs stored in {store.root}, tables written", flush=True)
    return 0


def _maps(args) -> int:

    cfg = make_config(args.preset, dataset=args.dataset, n_unlabeled=args.n_unlabeled, foreground="rembg")
    t0 = time.perf_counter()
    unlabeled = args.split == "unlabeled"
    out = foreground.split_with_maps(cfg, args.split, None if unlabeled else args.n_test, drop=unlabeled,
                                     workers=args.workers)
    print(f"maps: {cfg.dataset} {args.split}, {len(out)} images kept, {time.perf_counter() - t0:.0f} s", flush=True)
    return 0
