"""Command line: ``python -m focusmim run`` pretrains the paper's main strategies,
probes them and prints a results table (the README's main job).

    python -m focusmim run --preset smoke            # embedded synthetic data, about a minute on 2 cores
    python -m focusmim run --preset cpu --epochs 20  # CIFAR-10 from $FOCUSMIM_DATA or ../shared/data
    python -m focusmim run --preset paper            # STL-10, 500 epochs, GPU
    python -m focusmim store verify                  # check every run in the store (store gc: remove leftovers)

A wrong parameter, a missing file or a failed write ends with one line (exit code 2);
add --debug for the traceback.
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


def _count(text: str) -> int:
    """argparse type: an integer >= 0 (seeds, epochs, image counts)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; allowed: an integer >= 0") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} is not allowed; allowed: an integer >= 0")
    return v


def main(argv: list[str] | None = None) -> int:
    """Run the command line; user errors (a bad parameter, a missing file, a failed
    write, a damaged run) print one line and return 2, tracebacks only with ``--debug``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    from focusmim.config import ConfigError

    try:
        return _main(argv)
    except (ConfigError, ValueError, FileNotFoundError, OSError) as exc:
        if "--debug" in argv:
            raise
        msg = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {msg} (--debug shows the traceback)", file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    parser = argparse.ArgumentParser(prog="focusmim", description=__doc__, parents=[common],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add = sub.add_parser
    sub.add_parser = lambda *a, **k: _add(*a, parents=[common], **k)  # --debug after the command too
    run = sub.add_parser("run", help="pretrain + linear probe of the main masking strategies")
    run.add_argument("--preset", default=None, help="smoke | cpu | gpu | paper (default: $FOCUSMIM_PRESET, "
                                                    "else paper on a GPU and smoke elsewhere)")
    run.add_argument("--dataset", default=None)
    run.add_argument("--epochs", type=_count, default=None)
    run.add_argument("--image-size", type=_count, default=None)
    run.add_argument("--device", default=None)
    run.add_argument("--cpu-amp", action="store_true", help="bf16 autocast and a channels_last model on the CPU too "
                     "(about 2x faster on CPUs with native bf16; default fp32)")
    run.add_argument("--seeds", type=_count, nargs="+", default=[0], help="pretraining seeds")
    run.add_argument("--probe-seeds", type=_count, nargs="+", default=[0, 1, 2, 3, 4])
    run.add_argument("--strategies", nargs="+", default=list(MAIN_CONDITIONS), choices=list(MAIN_CONDITIONS),
                     metavar="NAME", help=f"any of: {', '.join(repr(k) for k in MAIN_CONDITIONS)}")
    pre = sub.add_parser("precompute", help="run chapters' experiments into the run store (e.g. on a GPU machine)")
    pre.add_argument("chapters", nargs="*", help="chapter names (default: all)")
    pre.add_argument("--preset", default=None)
    pre.add_argument("--epochs", type=_count, default=None)
    pre.add_argument("--dataset", default=None)
    pre.add_argument("--n-unlabeled", type=_count, default=None)
    maps = sub.add_parser("maps", help="compute and cache rembg foreground maps of a preset's pretraining "
                                       "images and first test images (chapters 04-05 on real images)")
    maps.add_argument("--preset", default=None)
    maps.add_argument("--dataset", default=None)
    maps.add_argument("--n-unlabeled", type=_count, default=None)
    maps.add_argument("--split", choices=["unlabeled", "test"], default="unlabeled",
                      help="unlabeled: the pretraining images (as chapter 04 trains on them); test: the first "
                           "--n-test test images (as chapter 05 measures its errors on them)")
    maps.add_argument("--n-test", type=_count, default=1024)
    maps.add_argument("--workers", type=_count, default=None, help="onnxruntime threads (default: all cores)")
    summ = sub.add_parser("summary", help="write the book's results page from the stored tables")
    summ.add_argument("--out", default="book/results.md", help="markdown file to write (default: book/results.md)")
    store = sub.add_parser("store", help="check the run store (verify) or remove leftover temporary files (gc)")
    store.add_argument("action", choices=["verify", "gc"])
    store.add_argument("--root", default=None, help="the store's folder (default: $FOCUSMIM_RUNS, else runs/)")
    args = parser.parse_args(argv)
    if args.command == "store":
        return _store(args)
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


def _store(args) -> int:
    """``store verify``: a table of every run (exit 1 when one is damaged); ``store gc``."""
    from pathlib import Path

    from focusmim.runs import RunStore

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
    import time

    from focusmim import chapters
    from focusmim.notebook import setup

    names = args.chapters or chapters.REGISTRY.names()
    for name in names:
        chapters.REGISTRY.check(name, "chapter")  # every name checked before any work starts
    for name in names:
        t0 = time.perf_counter()
        nb = setup(name, preset=args.preset, epochs=args.epochs, dataset=args.dataset, n_unlabeled=args.n_unlabeled)
        chapters.compute(name, nb)
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s", flush=True)
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
