"""Train the book's missing runs, most wanted first, until a deadline: one script for a short GPU lease.

A lease (a borrowed or preemptible GPU, a time-limited cluster job) gets the repository, one packed
dataset and a few minutes. This script trains a priority queue of the runs the book lacks, each with
the package's own code (:func:`focusmim.train.pretrain`, :func:`focusmim.probe.evaluate`, the same
configs as the chapters build, so the chapters reuse every run by its key), and after every finished
run writes everything worth keeping into ``--out`` at once:

* ``store.tar.gz``: the run store without weights (configs, metrics, probe results of the best
  checkpoint and of every snapshot epoch: the budget curves);
* ``zoo-<n>.tar``: fp16 safetensors of the first pretraining seed of each strategy (the model zoo),
  at most three models a file;
* ``queue.json``: what was done, skipped or failed, with times.

A run that would not finish before the deadline is not started (its cost is estimated from the runs
done so far). Calling the script again continues: finished runs are reused, cached probes are read
back, a restored ``store.tar.gz`` (``--restore``) brings an earlier lease's runs.

Usage (see scripts/device_queue.sh for the whole lease):
    python scripts/device_queue.py --preset imagenette --store /tmp/fmruns --out "$OUT" --budget-s 480
    python scripts/device_queue.py --preset imagenette --dry-run      # the queue and its GPU minutes, on a CPU
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from focusmim.chapters.ch01_masking_strategy import STRATEGIES, sweep_conditions  # noqa: E402
from focusmim.config import Config, make_config  # noqa: E402
from focusmim.presets import NOTEBOOK_DEFAULTS  # noqa: E402

# the science issue's order: chapter 1's four main strategies (seed by seed, so that a short lease still
# gives whole comparisons), the blurred pair, then the masking-ratio sweep at one seed
MAIN = ("random patches", "masked periphery", "foveal filter", "plain autoencoder")
BLURRED = ("blurry random patches", "blurry periphery")
ZOO_PER_TAR = 3
SWEEP_RATIOS = (0.2, 0.4, 0.6, 0.8, 0.9)  # where a preset's chapter has no sweep yet, the queue trains this one
# measured: the paper's autoencoder at 96 px, batch 512, bf16, compiled, on an H200 (issue 29: 22,707
# images/s); at 32 px 24,068 images/s. A plan's first guess, replaced by the lease's own runs once one is done.
GUESS_IMAGES_PER_S = {96: 22_700, 32: 24_000}
GUESS_COMPILE_S = 35.0  # once per process (measured on an H200, torch 2.11)
GUESS_PROBE_S = 4.0  # one probe (5 seeds, cached features) on a GPU


@dataclass
class Item:
    """One run of the queue: ``condition`` (chapter 1's name), its config, what to probe, and whether
    its weights go to the zoo."""

    group: str
    condition: str
    cfg: Config
    probe_seeds: tuple
    which: tuple = ("best",)
    zoo: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The zoo name: ``<dataset><px>-<condition>`` (``imagenette96-random-patches``)."""
        return f"{self.cfg.dataset}{self.cfg.image_size}-{self.condition.replace(' ', '-')}"


def science_queue(preset: str, *, epochs: int | None = None, seeds=None, groups=("main", "blurred", "sweep"),
                  **overrides) -> list[Item]:
    """The queue for ``preset``: the configs chapter 1 builds (same keys), most wanted first."""
    base = make_config(preset, epochs=epochs, **overrides)
    nd = NOTEBOOK_DEFAULTS[preset]
    seeds = tuple(nd["seeds"] if seeds is None else seeds)
    probe_seeds = tuple(nd["probe_seeds"])
    which = ("best", *base.snapshot_epochs)
    items: list[Item] = []
    if "main" in groups:
        items += [Item("main", c, base.replace(seed=s, **STRATEGIES[c]), probe_seeds, which, zoo=s == seeds[0])
                  for s in seeds for c in MAIN]
    if "blurred" in groups:
        items += [Item("blurred", c, base.replace(seed=s, **STRATEGIES[c]), probe_seeds, which, zoo=s == seeds[0])
                  for s in seeds for c in BLURRED]
    if "sweep" in groups:
        s0 = tuple(nd.get("ablation_seeds", (0,)))[0]
        for c, over in sweep_conditions(nd["ratios"] or SWEEP_RATIOS).items():
            cfg = base.replace(seed=s0, **over)
            if all(cfg.key() != it.cfg.key() for it in items):  # the default ratios are the main runs
                items.append(Item("sweep", c, cfg, probe_seeds, ("best",)))
    return items


def estimate_s(item: Item, n_images: int, images_per_s: float | None = None, probe_s: float | None = None) -> float:
    """Seconds for one item: training at ``images_per_s`` plus its probes."""
    ips = images_per_s or GUESS_IMAGES_PER_S.get(item.cfg.image_size, 20_000)
    return item.cfg.epochs * n_images / ips + len(item.which) * (probe_s or GUESS_PROBE_S)


def n_pretraining_images(cfg: Config) -> int:
    """How many images a run of ``cfg`` pretrains on (from file names only)."""
    from focusmim.plan import data_summary

    return int(data_summary(cfg)["used"]["unlabeled"])


def _tar_store(store_root: Path, dest: Path) -> None:
    """The run store without weights (``*.pt``), lock files or temporaries, as a gzipped tar, atomically."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for p in sorted(store_root.rglob("*")):
            rel = p.relative_to(store_root)
            if p.is_file() and p.suffix not in (".pt", ".lock", ".tmp") and not any(
                    part.startswith(".") for part in rel.parts):
                tar.add(p, arcname=str(rel))
    os.replace(tmp, dest)


def _tar_zoo(zoo: Path, out: Path) -> list[Path]:
    files = sorted(zoo.glob("*.safetensors"))
    written = []
    for i in range(0, len(files), ZOO_PER_TAR):
        dest = out / f"zoo-{i // ZOO_PER_TAR + 1}.tar"
        tmp = dest.with_name(f".{dest.name}.tmp")
        with tarfile.open(tmp, "w") as tar:
            for f in files[i:i + ZOO_PER_TAR]:
                tar.add(f, arcname=f.name)
        os.replace(tmp, dest)
        written.append(dest)
    return written


def write_out(store_root: Path, zoo: Path, out: Path, log: list[dict]) -> None:
    """Everything worth keeping so far, into ``out`` (each file replaced atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    _tar_store(store_root, out / "store.tar.gz")
    _tar_zoo(zoo, out)
    tmp = out / ".queue.json.tmp"
    tmp.write_text(json.dumps(log, indent=1, default=str))
    os.replace(tmp, out / "queue.json")


def restore(archive: Path, store_root: Path) -> int:
    """Unpack an earlier lease's ``store.tar.gz`` into the store (files already there are kept)."""
    n = 0
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if m.isfile() and not (store_root / m.name).exists():
                tar.extract(m, store_root, filter="data")
                n += 1
    return n


def run_queue(items: list[Item], store_root: Path, out: Path, deadline: float, *, zoo: Path | None = None
              ) -> list[dict]:
    """Train and probe ``items`` in order until ``deadline`` (a ``time.time()``), writing ``out`` after each."""
    from focusmim import zoo as zoo_mod
    from focusmim.chapters import ch02_decorrelation as ch02
    from focusmim.data import load_for_config
    from focusmim.plan import record_compile_seconds
    from focusmim.probe import evaluate, raw_pixel_baseline
    from focusmim.runs import RunStore
    from focusmim.train import pretrain

    store = RunStore(store_root)
    zoo = zoo or store_root.parent / (store_root.name + "-zoo")
    zoo.mkdir(parents=True, exist_ok=True)
    log: list[dict] = []
    ips: float | None = None
    probe_s: list[float] = []
    n_img: dict[str, int] = {}
    first_run = None
    compiled = False  # whether this process has compiled the model already (its first compiled run pays for it)
    compile_s = None  # that compilation's measured time
    for it in items:
        key = it.cfg.key()
        ds = it.cfg.dataset
        if ds not in n_img:
            n_img[ds] = n_pretraining_images(it.cfg)
        stored = store.get(it.cfg) is not None
        need = 0.0 if stored else estimate_s(it, n_img[ds], ips, max(probe_s) if probe_s else None)
        if not stored and it.cfg.compile and not compiled and ips is None:
            need += GUESS_COMPILE_S
        left = deadline - time.time()
        rec = {"group": it.group, "condition": it.condition, "seed": it.cfg.seed, "key": key,
               "estimate_s": round(need, 1), "left_s": round(left, 1)}
        if need * 1.1 > left:
            rec["status"] = "skipped: would not finish before the deadline"
            log.append(rec)
            print(f"skip {it.condition} seed {it.cfg.seed} ({key}): needs ~{need:.0f} s, {left:.0f} s left", flush=True)
            continue
        t0 = time.time()
        try:
            run = pretrain(it.cfg, store, progress=False)
            compiled = compiled or it.cfg.compile
            rec["outcome"] = run.outcome
            m = run.metrics
            if run.outcome != "reused":
                # the steady throughput (the first epoch holds the compilation)
                steady = m["images_per_s"][1:] or m["images_per_s"]
                ips = sorted(steady)[len(steady) // 2]
                et = m["epoch_time"]
                if it.cfg.compile and len(et) > 1 and compile_s is None:  # the first compiled run trained here
                    compile_s = rec["compile_s"] = round(et[0] - min(et[1:]), 1)
                    record_compile_seconds(it.cfg, it.cfg.batch_size, compile_s, source="device_queue")
            rec["train_s"] = round(time.time() - t0, 1)
            rec["images_per_s"] = round(float(sum(m["images_per_s"]) / len(m["images_per_s"])), 1)
            rec["final_loss"] = m["loss"][-1]
            rec["probes"] = {}
            for w in it.which:
                t1 = time.time()
                res = evaluate(run, it.probe_seeds, w)
                probe_s.append(time.time() - t1)
                rec["probes"][str(w)] = round(res["accuracy_mean"], 4)
            if it.group in ("main", "blurred") and run.checkpoint_path("best").exists():
                # chapter 2's latent statistics need the weights, which stay behind: cache them now
                t1 = time.time()
                held = load_for_config(it.cfg, "test").images[:ch02.HELD_OUT]
                rec["latent_stats"] = round(ch02.run_latent_stats(run, held)["decorrelation"], 1)
                rec["latent_s"] = round(time.time() - t1, 1)
            if first_run is None:
                first_run = run
                t1 = time.time()
                raw = raw_pixel_baseline(it.cfg, it.probe_seeds, run=run)
                rec["raw_pixels"] = round(raw["accuracy_mean"], 4)
                rec["raw_s"] = round(time.time() - t1, 1)
            if it.zoo and run.checkpoint_path("best").exists():
                path = zoo_mod.export(run, zoo / f"{it.name}.safetensors", name=it.name)
                rec["zoo"] = path.name
            elif it.zoo:  # restored from an earlier lease, which wrote its zoo file out then
                rec["zoo"] = "weights not here (exported by the lease that trained it)"
            rec["status"] = "done"
            rec["seconds"] = round(time.time() - t0, 1)
            print(f"done {it.condition} seed {it.cfg.seed} ({key}, {run.outcome}): {rec['seconds']} s, "
                  f"probe {rec['probes']}", flush=True)
        except Exception as exc:  # one failure must not lose the lease: log it, go on
            rec["status"] = f"failed: {type(exc).__name__}: {exc}"
            rec["traceback"] = traceback.format_exc()[-3000:]
            print(f"FAILED {it.condition} seed {it.cfg.seed} ({key}): {exc}", flush=True)
            traceback.print_exc()
        log.append(rec)
        write_out(store_root, zoo, out, log)
    write_out(store_root, zoo, out, log)
    return log


def describe(items: list[Item], store_root: Path | None, pack: Path | None) -> str:
    """The dry run: the queue, which runs are stored already, the packed size and the GPU minutes."""
    from focusmim.runs import RunStore

    store = RunStore(store_root) if store_root is not None else None
    lines = [f"{'#':>3} {'group':8} {'condition':32} {'seed':>4} {'key':16} {'epochs':>6} {'probes':>6} state"]
    total, n_img = 0.0, {}
    for i, it in enumerate(items, 1):
        ds = it.cfg.dataset
        if ds not in n_img:
            n_img[ds] = n_pretraining_images(it.cfg)
        stored = store is not None and store.get(it.cfg) is not None
        s = 0.0 if stored else estimate_s(it, n_img[ds])
        total += s
        lines.append(f"{i:>3} {it.group:8} {it.condition:32} {it.cfg.seed:>4} {it.cfg.key():16} {it.cfg.epochs:>6} "
                     f"{len(it.which):>6} {'stored' if stored else f'~{s:.0f} s'}{' (zoo)' if it.zoo else ''}")
    if any(it.cfg.compile for it in items):
        total += GUESS_COMPILE_S
    lines.append(f"GPU time for the whole queue: about {total / 60:.1f} min on an H200 (at "
                 f"{GUESS_IMAGES_PER_S.get(items[0].cfg.image_size, 20_000):,} images/s, {GUESS_PROBE_S:.0f} s a "
                 f"probe, {GUESS_COMPILE_S:.0f} s of compilation once), plus about 1 min to start the machine "
                 f"and unpack the data")
    if pack is not None and pack.exists():
        lines.append(f"packed data: {pack} ({pack.stat().st_size / 2**20:.1f} MiB)")
    elif pack is not None:
        lines.append(f"packed data: {pack} is not there yet (scripts/device_queue.sh --pack makes it)")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="imagenette")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--groups", nargs="+", default=["main", "blurred", "sweep"], choices=["main", "blurred", "sweep"])
    p.add_argument("--store", default=None, help="run store (default: $FOCUSMIM_RUNS or the book's)")
    p.add_argument("--out", default=None, help="folder for store.tar.gz, zoo-*.tar, queue.json")
    p.add_argument("--budget-s", type=float, default=480.0, help="seconds from now until the deadline")
    p.add_argument("--restore", default=None, help="an earlier lease's store.tar.gz to continue from")
    p.add_argument("--pack", default=None, help="the packed dataset (shown by --dry-run)")
    p.add_argument("--field", action="append", default=[], help="extra Config field NAME=JSON (tests: tiny runs)")
    p.add_argument("--dry-run", action="store_true", help="print the queue and its GPU minutes; train nothing")
    a = p.parse_args(argv)
    deadline = time.time() + a.budget_s
    fields = {}
    for f in a.field:
        k, _, v = f.partition("=")
        fields[k] = json.loads(v)
    items = science_queue(a.preset, epochs=a.epochs, seeds=a.seeds, groups=tuple(a.groups), **fields)
    from focusmim.runs import default_root

    store_root = Path(a.store) if a.store else default_root()
    if a.dry_run:
        print(describe(items, store_root, Path(a.pack) if a.pack else None))
        return 0
    if a.out is None:
        p.error("--out is required unless --dry-run")
    store_root.mkdir(parents=True, exist_ok=True)
    if a.restore and Path(a.restore).exists():
        print(f"restored {restore(Path(a.restore), store_root)} files from {a.restore}", flush=True)
    log = run_queue(items, store_root, Path(a.out), deadline)
    done = sum(r.get("status") == "done" for r in log)
    failed = sum(str(r.get("status", "")).startswith("failed") for r in log)
    print(f"queue: {done} done, {failed} failed, {len(log) - done - failed} skipped of {len(items)}", flush=True)
    return 1 if failed and not done else 0


if __name__ == "__main__":
    raise SystemExit(main())
