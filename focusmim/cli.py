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
import json
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt

from focusmim import chapters, foreground, sweep
from focusmim.config import ConfigError, make_config, resolve_device, resolve_preset
from focusmim.data.synthetic import CLASSES
from focusmim.experiments import compare, publish, worker_plan
from focusmim.notebook import preset_note, setup
from focusmim.paper import PAPER_ACCURACY
from focusmim.plan import PlanningStore, plan_configs
from focusmim.plots.common import table_bars
from focusmim.presets import main_job
from focusmim.probe import evaluate
from focusmim.progress import announce
from focusmim.chapter_text import refresh_table_cells
from focusmim.prose import write_pages
from focusmim.report import write_summary
from focusmim.runs import RunStore, default_root
from focusmim.train import main_process, require_tensorboard

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
        # train its runs (focusmim.distributed)
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
        for path in sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")):
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


def report_main_job(table, out) -> str:
    """The main job's printed report: the table (accuracy as mean ± std over pretraining seeds, and
    as a multiple of chance), the chance level, two lines on what the numbers mean, the paper's numbers
    only when the run follows its STL-10 protocol, and the paths of a bar chart (PNG) and the numbers (JSON).

        >>> from focusmim.experiments import Table
        >>> t = Table("demo", [dict(condition="random patches", accuracy_mean=0.31, accuracy_std=0.01),
        ...                    dict(condition="raw pixels", accuracy_mean=0.25, accuracy_std=0.0)],
        ...           dict(dataset="synthetic", image_size=32, epochs=3, seeds=[0, 1, 2], seconds=60.0,
        ...                device_name="CPU", n_classes=10))
        >>> import tempfile; text = report_main_job(t, tempfile.mkdtemp())
        >>> print(text.splitlines()[5])
        Chance is 10.0 % (10 balanced classes).
        >>> print(text.splitlines()[6])
        Random patches is best: 31.0 ± 1.0 % (3 pretraining seeds), 6.0 points above raw pixels (25.0 %), 3.1x chance.
    """

    m = table.meta
    n_classes = m.get("n_classes") or _n_classes(m)
    chance = 1.0 / n_classes
    comparable = m.get("dataset") == "stl10" and m.get("image_size") == 96
    for r in table.rows:
        r["x chance"] = f"{r['accuracy_mean'] / chance:.1f}x"
        if comparable and r["condition"] in PAPER_ACCURACY:
            r["paper (STL-10 protocol)"] = f"{100 * PAPER_ACCURACY[r['condition']]:.1f} %"
    # the linear probe only (the paper's read-out); kNN stays in the JSON: on the synthetic images a
    # nearest neighbour in pixel space is strong where a linear read-out of pixels is not
    cols = ["condition", "accuracy", "x chance"] + (["paper (STL-10 protocol)"] if comparable else []) + [
        "wall_time_s"]
    lines = [table.to_markdown(cols), ""]
    lines.append(f"Chance is {100 * chance:.1f} % ({n_classes} balanced classes).")
    lines += _meaning(table.rows, chance, len(m.get("seeds", [])))
    lines += probe_notes(table, chance)
    if comparable:
        lines.append("'paper (STL-10 protocol)': the paper's numbers (STL-10, 96 px, 100,000 images, 500 epochs); "
                     f"this run: {m.get('epochs')} epochs.")
    else:
        lines.append(f"The paper's numbers (STL-10 protocol: 96 px, 500 epochs) are not shown: this run ({m.get('dataset')}, "
                     f"{m.get('image_size')} px, {m.get('epochs')} epochs) is not comparable in absolute terms.")
    lines.append(f"{m.get('dataset')} {m.get('image_size')} px, {m.get('epochs')} epochs, pretraining seeds "
                 f"{m.get('seeds')}, probe seeds {m.get('probe_seeds')}, device {m.get('device_name')}, "
                 f"{m.get('seconds', 0):.0f} s in all")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table.meta["chance"] = chance
    (out / "results.json").write_text(json.dumps({"title": table.title, "rows": table.rows, "meta": table.meta},
                                                 indent=1, sort_keys=True, default=str))
    png = _chart(table, chance, out / "results.png")
    lines.append(f"wrote {png} (bar chart) and {out / 'results.json'} (numbers)")
    return "\n".join(lines)


def probe_notes(table, chance) -> list[str]:
    """One line for each probe head of the table's runs that learned nothing on raw features (refitted on
    standardised features, or failed: :func:`focusmim.readouts.fit_linear_heads`), and one for each row
    below 2x chance saying why: its probe failed, or its head learned (train accuracy) from features that
    carry little (kNN). Reads the runs' cached probes; nothing is trained.

        >>> from focusmim.experiments import Table
        >>> probe_notes(Table("t", [dict(condition="a", accuracy_mean=0.5, accuracy_std=0.0)]), 0.1)
        []
    """
    out = []
    m = table.meta
    for name, runs in table.runs.items():
        for run in runs:
            res = evaluate(run, m.get("probe_seeds", (0, 1, 2, 3, 4)), **m.get("probe", {}))
            for seed, p in zip(res["seeds"], res["per_seed"]):
                if p.get("retry") or p.get("failed"):
                    first = p.get("first_fit", {})
                    out.append(f"Probe of {name}, pretraining seed {run.config.seed}, probe seed {seed}: "
                               + (f"{p['reason']}; no result." if p.get("failed") else
                                  f"{p['retry']}: {100 * first.get('accuracy', float('nan')):.1f} % -> "
                                  f"{100 * p['accuracy']:.1f} %."))
    for r in table.rows:
        if r["condition"] == "raw pixels" or r["accuracy_mean"] >= 2 * chance:
            continue
        evals = [evaluate(run, m.get("probe_seeds", (0, 1, 2, 3, 4)), **m.get("probe", {}))
                 for run in table.runs.get(r["condition"], [])]
        per = [p for e in evals for p in e["per_seed"]]
        if any(p.get("failed") for p in per):
            why = "its probe learned nothing on some seeds (above)"
        else:
            train = max((p.get("train_accuracy") or 0 for p in per), default=0)
            why = (f"its heads learned (train accuracy up to {100 * train:.1f} %) from features that carry little: "
                   f"kNN {100 * (r.get('knn') or 0):.1f} %")
        out.append(f"{r['condition'].capitalize()} is below 2x chance ({r['accuracy_mean'] / chance:.1f}x): {why}.")
    return out


def _n_classes(meta) -> int:
    return {"synthetic": len(CLASSES), "cifar10": 10, "stl10": 10}.get(meta.get("dataset"), 10)


def _meaning(rows, chance, n_seeds) -> list[str]:
    learned = [r for r in rows if r["condition"] != "raw pixels"]
    raw = next((r for r in rows if r["condition"] == "raw pixels"), None)
    best = max(learned, key=lambda r: r["accuracy_mean"])
    rest = sorted((r for r in learned if r is not best), key=lambda r: -r["accuracy_mean"])
    spread = f"{100 * best['accuracy_mean']:.1f} ± {100 * best['accuracy_std']:.1f} %"
    seeds = f"{n_seeds} pretraining seed{'s' * (n_seeds != 1)}"
    first = f"{best['condition'].capitalize()} is best: {spread} ({seeds})"
    if raw is not None:
        first += (f", {100 * (best['accuracy_mean'] - raw['accuracy_mean']):.1f} points "
                  f"{'above' if best['accuracy_mean'] >= raw['accuracy_mean'] else 'below'} raw pixels "
                  f"({100 * raw['accuracy_mean']:.1f} %)")
    first += f", {best['accuracy_mean'] / chance:.1f}x chance."
    out = [first]
    if rest:
        nxt = rest[0]
        gap = best["accuracy_mean"] - nxt["accuracy_mean"]
        noise = max(best["accuracy_std"], nxt["accuracy_std"])
        verdict = (f"{'larger than' if gap > noise else 'within'} the seed spread ({100 * noise:.1f})" if n_seeds > 1
                   else "with one pretraining seed, so no seed spread to compare with")
        low = min(learned, key=lambda r: r["accuracy_mean"])
        out.append(f"Next: {nxt['condition']} ({100 * nxt['accuracy_mean']:.1f} %), {100 * gap:.1f} points behind, "
                   f"{verdict}; lowest: {low['condition']} "
                   f"({100 * low['accuracy_mean']:.1f} %, {low['accuracy_mean'] / chance:.1f}x chance).")
    return out


def _chart(table, chance, path):

    fig = table_bars(table, lines={"chance": chance}, title=table.title)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


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


if __name__ == "__main__":
    raise SystemExit(main())
