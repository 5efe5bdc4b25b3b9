"""Command line: ``python -m focusmim run`` pretrains the paper's main strategies,
probes them and prints a results table (the README's main job).

    python -m focusmim run --preset smoke            # embedded synthetic data, 4 strategies x 3 seeds on 2 cores
    python -m focusmim run --preset cpu --epochs 20  # CIFAR-10 from $FOCUSMIM_DATA or ../shared/data
    python -m focusmim run --preset paper            # STL-10, 500 epochs, GPU
    python -m focusmim store verify                  # check every run in the store (store gc: remove leftovers)
    python -m focusmim run --tensorboard --knn-every 5   # watch the runs: tensorboard --logdir runs/

A wrong parameter, a missing file or a failed write ends with one line (exit code 2);
add --debug for the traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path




from focusmim.config import ConfigError, make_config, resolve_device, resolve_preset
from focusmim.experiments import compare, worker_plan
from focusmim.book.notebook import preset_note
from focusmim.planning.plan import PlanningStore, plan_configs
from focusmim.config.presets import main_job
from focusmim.utils.progress import announce
from focusmim.book.chapter_text import refresh_table_cells
from focusmim.book.prose import write_pages
from focusmim.book.report import write_summary
from focusmim.store.runs import RunStore, default_root
from focusmim.training.train import main_process, require_tensorboard

from .main_job import report_main_job
from .commands import _fields, _maps, _precompute, _publish, _store

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

    try:
        # under ``torchrun --nproc_per_node N`` rank 0 runs the command and the other ranks help
        # train its runs (focusmim.training.distributed)
        code = main_process(lambda: _main(argv))
        return 0 if code is None else code
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
    run.add_argument("--dataset", default=None, help="synthetic | cifar10 | stl10 | imagefolder (your own images)")
    run.add_argument("--data-root", default=None, help="the dataset's folder (imagefolder: train/<class>/*, "
                     "test/<class>/* [, unlabeled/], or <class>/* only; see README 'Your own images')")
    run.add_argument("--skip-bad-images", action="store_true", help="imagefolder: skip unreadable image files "
                     "with a warning (default: stop, naming the file)")
    run.add_argument("--dry-run", action="store_true", help="print the plan (runs, stored runs, data, device, "
                     "estimated time) and exit")
    run.add_argument("--epochs", type=_count, default=None)
    run.add_argument("--image-size", type=_count, default=None)
    run.add_argument("--device", default=None)
    run.add_argument("--cpu-amp", action="store_true", help="bf16 autocast and a channels_last model on the CPU too "
                     "(about 2x faster on CPUs with native bf16; default fp32)")
    run.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs (scalars per epoch, masked "
                     "input / reconstruction / target grids) to each trained run's tensorboard/ folder; needs "
                     "`pip install tensorboard`; open with `tensorboard --logdir <run store>` (a stored run is reused "
                     "as it is: the option is not part of a run's key)")
    run.add_argument("--knn-every", type=_count, default=None, metavar="N", help="every N epochs (and the last), "
                     "log the test split's kNN accuracy (k=20, cosine) in each run's metrics (0: off, the default)")
    run.add_argument("--set", dest="fields", action="append", default=[], metavar="NAME=VALUE",
                     help="any other Config field, e.g. --set weight_decay=0.05 --set crop_scale=[0.2,1] "
                          "(VALUE is read as JSON, else taken as a string); repeatable")
    run.add_argument("--seeds", type=_count, nargs="+", default=None,
                     help="pretraining seeds (default: the preset's main job, presets.MAIN_JOB; 0 1 2 at smoke)")
    run.add_argument("--probe-seeds", type=_count, nargs="+", default=None)
    run.add_argument("--out", default=None, help="folder for the chart (PNG) and numbers (JSON) "
                     "(default: <run store>/main/<preset>, not tracked by git)")
    run.add_argument("--workers", type=_count, default=None,
                     help="processes training runs at once (default: one per CPU core on a CPU, 1 on a GPU)")
    run.add_argument("--strategies", nargs="+", default=list(MAIN_CONDITIONS), choices=list(MAIN_CONDITIONS),
                     metavar="NAME", help=f"any of: {', '.join(repr(k) for k in MAIN_CONDITIONS)}")
    pre = sub.add_parser("precompute", help="run chapters' experiments into the run store (e.g. on a GPU machine)")
    pre.add_argument("chapters", nargs="*", help="chapter names (default: all)")
    pre.add_argument("--preset", default=None)
    pre.add_argument("--epochs", type=_count, default=None)
    pre.add_argument("--dataset", default=None)
    pre.add_argument("--data-root", default=None)
    pre.add_argument("--n-unlabeled", type=_count, default=None)
    pre.add_argument("--dry-run", action="store_true", help="print each chapter's plan and exit")
    pre.add_argument("--executor", choices=["local", "slurm"], default=None,
                     help="submit every run as its own submitit job (slurm: a job array on the cluster; local: "
                          "subprocesses here), wait for them, then write the chapters' tables from the store "
                          "(default: train in this process)")
    pre.add_argument("--jobs-dir", default=None, help="submitit's folder for job logs (default: <run store>/.jobs)")
    pre.add_argument("--partition", default=None, help="Slurm partition")
    pre.add_argument("--gpus-per-job", type=_count, default=None, help="GPUs per job (default: 1 on Slurm, 0 local)")
    pre.add_argument("--cpus-per-job", type=_count, default=None)
    pre.add_argument("--time-min", type=_count, default=240, help="time limit per job in minutes (default 240); a "
                     "job that reaches it is requeued and resumes from its last epoch")
    pre.add_argument("--max-parallel", type=_count, default=None, help="Slurm: at most this many jobs at once")
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
    pub = sub.add_parser("publish", help="copy saved tables (the run store's tables/<preset>/*.json) into the "
                                         "book's committed results/<preset>/: the only command that changes them")
    pub.add_argument("presets", nargs="*", help="preset folders to publish (default: every one saved)")
    pub.add_argument("--from", dest="src", default=None,
                     help="saved tables (default: $FOCUSMIM_TABLES, else <run store>/tables)")
    pub.add_argument("--to", dest="dst", default=None, help="the book's tables (default: $FOCUSMIM_RESULTS, else results/)")
    summ = sub.add_parser("summary", help="write the book's results page from the stored tables")
    summ.add_argument("--out", default="book/results.md", help="markdown file to write (default: book/results.md)")
    sub.add_parser("prose", help="write the book's generated text from the committed tables: book/findings.md "
                                 "(from its template) and the notebooks' cells tagged from-tables")
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
    if args.command == "publish":
        return _publish(args)
    if args.command == "summary":
        print(f"wrote {write_summary(args.out)}")
        return 0
    if args.command == "prose":
        for page in write_pages():
            print(f"wrote {page}")
        for path in sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb")):
            changed = refresh_table_cells(path)
            print(f"{path.name}: {len(changed)} generated cell(s) changed")
        return 0

    return _run(args)


def _run(args) -> int:

    try:
        if args.workers == 0:
            raise ValueError("--workers 0 is not allowed; allowed: a whole number >= 1")
        preset = resolve_preset(args.preset)
        job, seeds, probe_seeds, probe = main_job(preset)
        seeds = tuple(args.seeds) if args.seeds is not None else seeds
        probe_seeds = tuple(args.probe_seeds) if args.probe_seeds is not None else probe_seeds
        explicit = dict(dataset=args.dataset, epochs=args.epochs, image_size=args.image_size, device=args.device,
                        cpu_amp=True if args.cpu_amp else None, data_root=args.data_root,
                        skip_bad_images=True if args.skip_bad_images else None,
                        tensorboard=True if args.tensorboard else None, knn_every=args.knn_every)
        if args.dataset is not None and args.dataset != make_config(preset).dataset:
            job = {}  # the main job's budget is for the preset's own data
        base = make_config(preset, **{**job, **_fields(args.fields),
                                      **{k: v for k, v in explicit.items() if v is not None}})
        for k in args.strategies:  # every condition is checked before any data loads
            base.replace(**MAIN_CONDITIONS[k])
        if base.tensorboard:
            require_tensorboard()

        planner = PlanningStore()
        compare(base, {k: MAIN_CONDITIONS[k] for k in args.strategies}, seeds=seeds, store=planner)
        plan = plan_configs(planner.configs, preset=preset, label="focusmim run",
                            preset_note=preset_note(args.preset, preset), workers=args.workers)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    announce(plan.format())
    if args.dry_run:
        print("dry run: nothing trained")
        return 0

    store = RunStore()
    todo = [c for c in planner.configs if store.get(c) is None]
    for c in todo:  # a read-only or full store is named before any work (stored runs only need reading)
        store.check_writable(c)
    out = Path(args.out) if args.out else default_root() / "main" / preset
    workers = args.workers or worker_plan(resolve_device(base.device), len(todo))[0]
    print(f"preset {preset}: {base.describe()}")
    print(f"main job: {len(args.strategies)} strategies x {len(seeds)} pretraining seed{'s' * (len(seeds) != 1)} {list(seeds)}, "
          f"linear probe ({len(probe_seeds)} probe seed{'s' * (len(probe_seeds) > 1)}"
          f"{', ' + ', '.join(f'{k}={v:g}' for k, v in probe.items()) if probe else ''}), and raw pixels"
          f"{f'; {workers} runs at a time' if workers > 1 else ''}",
          flush=True)
    table = compare(base, {k: MAIN_CONDITIONS[k] for k in args.strategies}, seeds=seeds, probe_seeds=probe_seeds,
                    raw_pixels=True, title=f"main strategies ({preset})", job_bar=True, probe=probe, workers=workers)
    print()
    print(report_main_job(table, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
