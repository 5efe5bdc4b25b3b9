"""Command line: ``python -m focusmim run`` pretrains the paper's main strategies,
probes them and prints a results table (the README's main job).

    python -m focusmim run --preset smoke            # embedded synthetic data, about a minute on 2 cores
    python -m focusmim run --preset cpu --epochs 20  # CIFAR-10 from $FOCUSMIM_DATA or ../shared/data
    python -m focusmim run --preset paper            # STL-10, 500 epochs, GPU
"""
from __future__ import annotations

import argparse
import sys

MAIN_CONDITIONS = {
    "random patches": dict(masker="random_patches"),
    "masked periphery": dict(masker="masked_periphery"),
    "foveal filter": dict(masker="foveal"),
    "plain autoencoder": dict(masker="none"),
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; under ``torchrun --nproc_per_node N`` rank 0 runs it and the other
    ranks help train its runs (:mod:`focusmim.distributed`)."""
    from focusmim import distributed

    code = distributed.main_process(lambda: _main(argv))
    return 0 if code is None else code


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="focusmim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="pretrain + linear probe of the main masking strategies")
    run.add_argument("--preset", default=None, help="smoke | cpu | gpu | paper (default: $FOCUSMIM_PRESET, "
                                                    "else paper on a GPU and smoke elsewhere)")
    run.add_argument("--dataset", default=None)
    run.add_argument("--epochs", type=int, default=None)
    run.add_argument("--image-size", type=int, default=None)
    run.add_argument("--device", default=None)
    run.add_argument("--cpu-amp", action="store_true", help="bf16 autocast and a channels_last model on the CPU too "
                     "(about 2x faster on CPUs with native bf16; default fp32)")
    run.add_argument("--seeds", type=int, nargs="+", default=[0], help="pretraining seeds")
    run.add_argument("--probe-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    run.add_argument("--strategies", nargs="+", default=list(MAIN_CONDITIONS), choices=list(MAIN_CONDITIONS),
                     metavar="NAME", help=f"any of: {', '.join(repr(k) for k in MAIN_CONDITIONS)}")
    pre = sub.add_parser("precompute", help="run chapters' experiments into the run store (e.g. on a GPU machine)")
    pre.add_argument("chapters", nargs="*", help="chapter names (default: all)")
    pre.add_argument("--preset", default=None)
    pre.add_argument("--epochs", type=int, default=None)
    pre.add_argument("--dataset", default=None)
    pre.add_argument("--n-unlabeled", type=int, default=None)
    pre.add_argument("--executor", choices=["local", "slurm"], default=None,
                     help="submit every run as its own submitit job (slurm: a job array on the cluster; local: "
                          "subprocesses here), wait for them, then write the chapters' tables from the store "
                          "(default: train in this process)")
    pre.add_argument("--jobs-dir", default=None, help="submitit's folder for job logs (default: <run store>/.jobs)")
    pre.add_argument("--partition", default=None, help="Slurm partition")
    pre.add_argument("--gpus-per-job", type=int, default=None, help="GPUs per job (default: 1 on Slurm, 0 local)")
    pre.add_argument("--cpus-per-job", type=int, default=None)
    pre.add_argument("--time-min", type=int, default=240, help="time limit per job in minutes (default 240); a "
                     "job that reaches it is requeued and resumes from its last epoch")
    pre.add_argument("--max-parallel", type=int, default=None, help="Slurm: at most this many jobs at once")
    maps = sub.add_parser("maps", help="compute and cache rembg foreground maps of a preset's pretraining "
                                       "images and first test images (chapters 04-05 on real images)")
    maps.add_argument("--preset", default=None)
    maps.add_argument("--dataset", default=None)
    maps.add_argument("--n-unlabeled", type=int, default=None)
    maps.add_argument("--split", choices=["unlabeled", "test"], default="unlabeled",
                      help="unlabeled: the pretraining images (as chapter 04 trains on them); test: the first "
                           "--n-test test images (as chapter 05 measures its errors on them)")
    maps.add_argument("--n-test", type=int, default=1024)
    maps.add_argument("--workers", type=int, default=None, help="onnxruntime threads (default: all cores)")
    summ = sub.add_parser("summary", help="write the book's results page from the stored tables")
    summ.add_argument("--out", default="book/results.md", help="markdown file to write (default: book/results.md)")
    args = parser.parse_args(argv)
    if args.command == "precompute":
        return _precompute(args)
    if args.command == "maps":
        return _maps(args)
    if args.command == "summary":
        from focusmim.report import write_summary

        print(f"wrote {write_summary(args.out)}")
        return 0

    from focusmim.config import ConfigError, make_config, resolve_preset
    from focusmim.experiments import compare
    from focusmim.paper import PAPER_ACCURACY

    try:
        preset = resolve_preset(args.preset)
        base = make_config(preset, dataset=args.dataset, epochs=args.epochs, image_size=args.image_size,
                           device=args.device, cpu_amp=True if args.cpu_amp else None)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"preset {preset}: {base.describe()}")
    table = compare(base, {k: MAIN_CONDITIONS[k] for k in args.strategies}, seeds=args.seeds,
                    probe_seeds=args.probe_seeds, raw_pixels=True, title=f"main strategies ({preset})")
    for r in table.rows:
        paper = PAPER_ACCURACY.get(r["condition"])
        r["paper (STL-10)"] = f"{100 * paper:.1f} %" if paper is not None else ""
    print()
    print(table.to_markdown(["condition", "accuracy", "paper (STL-10)", "knn", "decorrelation", "wall_time_s"]))
    m = table.meta
    print(f"\n{m['dataset']} {m['image_size']} px, {m['epochs']} epochs, pretraining seeds {m['seeds']}, "
          f"probe seeds {m['probe_seeds']}, device {m['device_name']}, {m['seconds']:.0f} s in all")
    return 0


def _precompute(args) -> int:
    import time

    from focusmim import chapters
    from focusmim.notebook import setup

    names = args.chapters or chapters.REGISTRY.names()
    for name in names:
        chapters.REGISTRY.check(name, "chapter")  # every name checked before any work starts
    if args.executor:
        return _sweep(args, names)
    for name in names:
        t0 = time.perf_counter()
        nb = setup(name, preset=args.preset, epochs=args.epochs, dataset=args.dataset, n_unlabeled=args.n_unlabeled)
        chapters.compute(name, nb)
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


def _sweep(args, names) -> int:
    from focusmim import sweep
    from focusmim.notebook import setup
    from focusmim.runs import RunStore

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
    import time

    from focusmim import segment
    from focusmim.config import make_config

    cfg = make_config(args.preset, dataset=args.dataset, n_unlabeled=args.n_unlabeled, foreground="rembg")
    t0 = time.perf_counter()
    unlabeled = args.split == "unlabeled"
    out = segment.split_with_maps(cfg, args.split, None if unlabeled else args.n_test, drop=unlabeled,
                                  workers=args.workers)
    print(f"maps: {cfg.dataset} {args.split}, {len(out)} images kept, {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
