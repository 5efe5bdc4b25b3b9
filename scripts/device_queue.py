"""The whole book's GPU queue for short leases: train and evaluate what the book lacks, most telling first.

A lease (a borrowed, preemptible or time-limited GPU without internet) gets the repository, one packed
dataset and a few minutes. ``scripts/device_queue.sh`` sets the machine up and calls this script, which
works through :func:`book_queue` until a deadline, with the package's own code and the very configs the
chapters build (:func:`focusmim.planning.plan.chapter_configs`; the chapters then find every run by its key):

1. ``capture``: the step-capture check (``scripts/step_capture.py``): the training step at 32 and 96 px with
   ``compile_mode`` 'default' and 'reduce-overhead', losses after 20 steps compared; the faster mode whose loss
   agrees trains the rest of the lease (``compile_mode`` is not in the run key);
2. ``lr-select``: the paper's learning-rate selection at 96 px (:mod:`focusmim.experiments.lr_selection`): chapter 1's four
   main strategies at each candidate rate (first seed), probed, picked by validation accuracy; then
   ``lr-selected``: seeds 1 and 2 at the selected rates and the blurred pair at its parent's rate. That half is
   *dynamic*: its configs are resolved from the first half's probes when the queue reaches it (a dry run
   assumes that the paper's rates win, and says so);
3. ``longer``: the decisive comparison (masked periphery, random patches, foveal filter) to 100 epochs with
   snapshots after 10, 25 and 50, three seeds, at the selected rates;
4. ``ch02`` (chapter 2's latent statistics of chapter 1's runs, from their weights) and ``ch03`` (crop off,
   fixed masks, three seeds, its own crop-on controls are chapter 1's runs);
5. ``sweep`` (chapter 1's masking-ratio sweep), ``maps`` (rembg's u2netp maps of the data, on the machine),
   ``ch04``, ``ch05`` (they need the maps: skipped with the reason when the maps cannot be made in time),
   ``ch06`` (ConvNeXt-V2 pico at the paper's three rates, with fine-tuning), ``ch07`` (learned masks);
6. ``readouts``: every readout of ``focusmim.evaluation.probe.READOUTS`` (issue 37) on chapter 1's runs (skipped with the
   reason while the package has none).

After every finished item everything worth keeping is written into ``--out`` at once (at most 8 files come
back from a lease): ``store.tar.gz`` (the runs this lease added or changed, without weights),
``zoo-<n>.tar`` (fp16 models for the zoo), ``queue.json`` (the log), ``capture.json`` and ``SHA256SUMS``.

**Weights.** The book's store keeps no weights. The lease restores it (``--pack-tree`` packs ``results/store``
into ``.carry/book-store.tar.xz``, given as ``--book-store``; an earlier lease's ``store.tar.gz`` with
``--restore``), so a run already there is never trained
again, and an item whose every probe and evaluation is cached there counts as done. An item that needs a
stored run's weights (chapter 2's statistics, a missing probe, the readouts) takes them from, in order: the
run's own checkpoint (trained in this lease); a retrain of the same config made earlier in this lease (the
side store ``<store>-weights``); for ``best``, the zoo's fp16 model of the run where the zoo's file is there (a
packed lease leaves ``zoo/``'s weights here: ``--pack-tree`` holds them in ``.lease-hold/``, and the dry run counts
the zoo as absent); else it retrains the config into the side store first (the item's estimate includes that run's
own measured training time). What it computes is copied into the book's run and recorded in the run's
``lease-weights.json`` (which weights made which file). The run's own metrics, probes and key are never
replaced; a cached probe that lacks the validation accuracy (cached before the probe recorded it) gains it
(``val_accuracy`` per seed, with ``val_accuracy_weights`` naming the weights), its test accuracies unchanged.

A run that would not finish before the deadline is not started (later, shorter items still are). Calling the
script again continues. ``--dry-run`` prints the queue with each item's GPU seconds and where the first, second
and third 15-minute lease end; ``--bring-back DIR`` puts a lease's output where the book reads it, verified.

Usage (the whole lease: see scripts/device_queue.sh and book/how_to_run.md):
    python scripts/device_queue.py --preset imagenette --dry-run            # the queue, on a CPU, in seconds
    python scripts/device_queue.py --preset imagenette --store /tmp/fmruns --out "$OUT" --budget-s 480
    python scripts/device_queue.py --bring-back DIR                         # here, after the lease
    python scripts/device_queue.py --pack-tree | --restore-tree | --check-size   # the lease's tree (here)
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

if TYPE_CHECKING:
    from focusmim.config import Config


def _load() -> None:
    """The package's names the queue uses, imported when first needed: packing, holding and restoring the tree
    and the size check run without torch (half a second instead of five)."""
    global STRATEGIES, sweep_conditions, Config, SELECTION_PARENT, pick_rate, selected_conditions, selected_rates
    global selection_conditions, validation_accuracy, LR_CANDIDATES, NOTEBOOK_DEFAULTS
    from focusmim.chapters.ch01_masking_strategy import STRATEGIES, sweep_conditions
    from focusmim.config import Config
    from focusmim.experiments.lr_selection import (SELECTION_PARENT, pick_rate, selected_conditions, selected_rates,
                                       selection_conditions, validation_accuracy)
    from focusmim.config.presets import LR_CANDIDATES, NOTEBOOK_DEFAULTS

MAIN = ("random patches", "masked periphery", "foveal filter", "plain autoencoder")  # chapter 1's main strategies
BLURRED = ("blurry random patches", "blurry periphery")
DECISIVE = ("masked periphery", "random patches", "foveal filter")  # the comparison trained longer
LONGER_EPOCHS, LONGER_SNAPSHOTS = 100, (10, 25, 50)
SWEEP_RATIOS = (0.2, 0.4, 0.6, 0.8, 0.9)  # where a preset's chapter has no sweep yet, the queue trains this one
GROUPS = ("capture", "lr-select", "lr-selected", "longer", "ch02", "ch03", "sweep", "maps", "ch04", "ch05", "ch06",
          "ch07", "readouts")
ZOO_TARS = 4  # zoo-1.tar .. zoo-4.tar: with store.tar.gz, queue.json, capture.json and SHA256SUMS, 8 files
ZOO_PER_TAR = 3  # 4 MB a model: 12 MB a tar (16 MiB a file comes back)
# measured: the paper's autoencoder at 96 px, batch 512, bf16, compiled, on an H200 (issue 29: 22,707
# images/s); at 32 px 24,068 images/s. A plan's first guess where no stored run of the same model was trained
# on a GPU; replaced by the lease's own runs once one is done.
GUESS_IMAGES_PER_S = {96: 22_700, 32: 24_000}
GUESS_COMPILE_S = 35.0  # once per process (measured on an H200, torch 2.11)
GUESS_PROBE_S = 4.0  # one probe (5 seeds, cached features) on a GPU (three took about 7 s on the H200)
GUESS_CAPTURE_S = 150.0  # 4 compilations (2 sizes x 2 modes, ~30 s each) + 4 x 340 steps at ~22 ms
GUESS_LATENT_S = 2.0  # chapter 2's statistics of one run (512 test images)
GUESS_FINETUNE_S = 30.0  # chapter 6's fine-tuning of one run (early stopping, 4,000 labeled images)
GUESS_EVAL_S = 5.0  # one model evaluation on test images (chapter 5's errors, chapter 7's gallery)
# u2netp maps on the GPU machine: focusmim.data.foreground picks the torch port on CUDA (focusmim/data/foreground/u2netp.py,
# maps within one uint8 level of onnxruntime's). Not yet measured on a GPU: a guess (onnxruntime on the machine's 16
# CPU cores did 10 images/s); the lease times 32 images first and skips the maps, with the reason, if they would not fit
GUESS_MAPS_IPS = 500.0
GUESS_READOUTS = 3  # readouts assumed when focusmim.evaluation.probe.READOUTS is not there (the dry run says so)
# a lease: 15 min of device time, the machine's start counted, commands of at most 10 min
LEASE_S, START_S, COMMAND_S, SETUP_S, WRITE_S = 900.0, 120.0, 540.0, 15.0, 25.0
MIN_COMMAND_S = 90.0  # a last command shorter than this is not worth its setup and compilation
MAX_TREE_MIB = 64.0  # what travels with a lease: tracked + untracked-not-ignored files + carried paths


@dataclass
class Item:
    """One step of the queue: a run (``cfg``) with the probes (``which``) and evaluations (``actions``) the
    book needs of it, or a step of its own (``kind``: 'capture', 'maps', or 'resolve': the configs that depend
    on the learning-rate selection, expanded by ``resolve(store)`` when the queue reaches it)."""

    group: str
    condition: str
    cfg: Config | None = None
    probe_seeds: tuple = ()
    which: tuple = ("best",)
    actions: tuple = ()
    zoo: bool = False
    kind: str = "run"
    resolve: Callable | None = None
    assumed: list = field(default_factory=list)  # a dry run's expansion of a 'resolve' item
    note: str = ""

    @property
    def name(self) -> str:
        """The zoo name: ``<dataset><px>-<condition>`` (``imagenette96-random-patches-100-epochs``)."""
        slug = "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in self.condition.replace(", ", "-"))
        return f"{self.cfg.dataset}{self.cfg.image_size}-{slug}".replace("--", "-")

    @property
    def seed(self):
        return self.cfg.seed if self.cfg is not None else "-"


# ----------------------------------------------------------------------------- the queue
def _nb(name: str, preset: str, seeds, epochs, notebook_params: dict, overrides: dict):
    """A chapter's notebook context as the notebook builds it (provenance print kept quiet)."""
    from focusmim.book.notebook import setup

    with contextlib.redirect_stdout(io.StringIO()):
        return setup(name, preset=preset, seeds=seeds, plan=False, notebook_params=notebook_params, epochs=epochs,
                     **overrides)


def _chapter(name: str, nb) -> list[Config]:
    from focusmim.planning.plan import chapter_configs

    with contextlib.redirect_stdout(io.StringIO()):
        return chapter_configs(name, nb)


def _condition(cfg: Config, table: dict[str, dict], base: Config) -> str:
    """The chapter's name of ``cfg``: the condition of ``table`` whose config (on ``base``) has its key."""
    for name, over in table.items():
        try:
            if base.replace(seed=cfg.seed, **over).key() == cfg.key():
                return name
        except (ValueError, TypeError):
            continue
    return f"{cfg.objective} {cfg.masker}"


def book_queue(preset: str = "imagenette", *, epochs: int | None = None, seeds=None, groups=GROUPS,
               **overrides) -> list[Item]:
    """Every item of the book at ``preset`` in the lease order (see the module docstring); configs as the
    chapters build them (same keys)."""
    _load()
    from focusmim.chapters import ch04_object_loss as ch04
    from focusmim.chapters import ch05_covert_attention as ch05
    from focusmim.chapters import ch07_learned_masks as ch07
    from focusmim.config.presets import CHAPTER_DEFAULTS

    nd = NOTEBOOK_DEFAULTS[preset]
    seeds = tuple(nd["seeds"] if seeds is None else seeds)
    nb1 = _nb("01_masking_strategy", preset, seeds, epochs, {}, overrides)
    base, ps = nb1.base, tuple(nb1.probe_seeds)
    snaps = ("best", *base.snapshot_epochs)
    mim = {k: v for k, v in STRATEGIES.items() if k in MAIN}
    items: list[Item] = []
    if "capture" in groups:
        items.append(Item("capture", "step capture: 32 and 96 px, default vs reduce-overhead", kind="capture"))
    if "lr-select" in groups:
        for cond, over in selection_conditions(mim, LR_CANDIDATES).items():
            items.append(Item("lr-select", cond, base.replace(seed=seeds[0], **over), ps, snaps, ("val",)))
    sel_items = [it for it in items if it.group == "lr-select"]

    def rates_from(store) -> dict[str, float] | None:
        """The selected rates from the first half's cached probes, or None while one is missing."""
        scores: dict[str, dict[float, float]] = {}
        for it in sel_items:
            run = _stored(store, it.cfg)
            res = _cached_probe(run, ps, "best") if run is not None else None
            try:
                v = validation_accuracy(res) if res else None
            except ValueError:
                v = None
            if v is None:
                return None
            name, r = it.condition.rsplit(", lr ", 1)
            scores.setdefault(name, {})[float(r)] = v
        return selected_rates({n: pick_rate(s) for n, s in scores.items()}, [*MAIN, *BLURRED])

    paper = selected_rates({n: _paper(over) for n, over in mim.items()}, [*MAIN, *BLURRED])

    def selected(rates: dict[str, float]) -> list[Item]:
        conds = selected_conditions({k: STRATEGIES[k] for k in (*MAIN, *BLURRED)}, rates)
        out = [Item("lr-selected", c, base.replace(seed=s, **conds[c]), ps, snaps, (), zoo=False)
               for s in seeds[1:] for c in MAIN]
        out += [Item("lr-selected", c, base.replace(seed=s, **conds[c]), ps, snaps, ()) for s in seeds for c in BLURRED]
        return out

    def longer(rates: dict[str, float]) -> list[Item]:
        conds = selected_conditions({k: STRATEGIES[k] for k in DECISIVE}, rates)
        lb = base.replace(epochs=LONGER_EPOCHS, snapshot_epochs=LONGER_SNAPSHOTS)
        return [Item("longer", f"{c}, {LONGER_EPOCHS} epochs", lb.replace(seed=s, **conds[c]), ps,
                     ("best", *LONGER_SNAPSHOTS), zoo=s == seeds[0]) for s in seeds for c in DECISIVE]

    waits = "the learning-rate selection's probes (group lr-select)"
    if "lr-selected" in groups:
        items.append(Item("lr-selected", f"seeds {list(seeds[1:])} at the selected rates, blurred pair inheriting",
                          kind="resolve", resolve=lambda st: (None if (r := rates_from(st)) is None else selected(r)),
                          assumed=selected(paper), note=waits))
    if "longer" in groups:
        items.append(Item("longer", f"{', '.join(DECISIVE)} to {LONGER_EPOCHS} epochs at the selected rates",
                          kind="resolve", resolve=lambda st: (None if (r := rates_from(st)) is None else longer(r)),
                          assumed=longer(paper), note=waits))
    if "ch02" in groups:
        nb = _nb("02_decorrelation", preset, seeds, epochs, {}, overrides)
        items += [Item("ch02", _condition(c, STRATEGIES, nb.base), c, (), (), ("latent",)) for c in _chapter("02_decorrelation", nb)]
    if "ch03" in groups:
        from focusmim.chapters.ch03_augmentation import CONDITIONS as C3
        nb = _nb("03_augmentation", preset, seeds, epochs, {"ablation_seeds": seeds}, overrides)
        items += [Item("ch03", _condition(c, C3, nb.base), c, ps, ("best",))
                  for c in _chapter("03_augmentation", nb)]
    if "sweep" in groups:
        ratios = tuple(nd["ratios"] or SWEEP_RATIOS)
        nb = _nb("01_masking_strategy", preset, seeds, epochs, {"ratios": ratios}, overrides)
        sc = sweep_conditions(ratios)
        main_keys = {c.key() for c in _chapter("02_decorrelation", _nb("02_decorrelation", preset, seeds, epochs, {},
                                                                       overrides))}
        items += [Item("sweep", _condition(c, sc, nb.base), c, ps, ("best",)) for c in _chapter("01_masking_strategy", nb)
                  if c.key() not in main_keys]
    nb4 = _nb("04_object_loss", preset, seeds, epochs, {}, overrides)
    base4, fg = ch04.object_base(nb4)
    if "maps" in groups and fg == "rembg":
        items.append(Item("maps", "u2netp maps: pretraining split and test images", base4, kind="maps"))
    if "ch04" in groups:
        conds = ch04.conditions(fg)
        for c in _chapter("04_object_loss", nb4):
            name = _condition(c, conds, base4)
            shown = name == f"{next(iter(ch04.STRATEGIES))}, loss on the object" and c.seed == seeds[0]
            items.append(Item("ch04", name, c, ps, tuple(c.snapshot_epochs), ("fg-examples",) if shown else ()))
    if "ch05" in groups:
        conds = ch05.probe_conditions(fg)
        nb5 = _nb("05_covert_attention", preset, seeds, epochs, {}, overrides)
        base5, _ = ch04.object_base(nb5)
        for c in _chapter("05_covert_attention", nb5):
            name = _condition(c, conds, base5)
            acts = ("covert", "covert-recon") if name == "no second disc" and c.seed == seeds[0] else ("covert",)
            items.append(Item("ch05", name, c, ps, ("best",), acts))
    if "ch06" in groups:
        from focusmim.chapters.ch06_architectures import CONDITIONS as C6
        from focusmim.chapters.ch06_architectures import SMOKE_BUDGET as B6
        from focusmim.chapters.ch06_architectures import convnext_base
        for lr in CHAPTER_DEFAULTS["06_architectures"].get(preset, {}).get("lrs", ()):
            nb = _nb("06_architectures", preset, seeds, epochs, {"lrs": [lr]}, overrides)
            cfgs = _chapter("06_architectures", nb)
            with contextlib.redirect_stdout(io.StringIO()):
                b = convnext_base(nb.shrink_for_smoke(B6), lr)
            c6 = {k: dict(v, snapshot_epochs=(b.epochs,)) for k, v in C6.items()}
            for c in cfgs:
                items.append(Item("ch06", f"{_condition(c, c6, b)}, lr {lr:g}", c, ps, (c.epochs,), ("finetune",)))
    if "ch07" in groups:
        nb = _nb("07_learned_masks", preset, seeds, epochs, {}, overrides)
        d = CHAPTER_DEFAULTS["07_learned_masks"][preset]
        conds = ch07.conditions(d["n_masks"], d["single"], ch07.snapshot_epochs(nb.base.epochs, d["n_snapshots"]),
                                d["mask_width"])
        first = True
        cfgs = _chapter("07_learned_masks", nb)
        with contextlib.redirect_stdout(io.StringIO()):
            b7 = nb.shrink_for_smoke(ch07.SMOKE_BUDGET)
        for c in cfgs:
            name = _condition(c, conds, b7)
            acts = ("gallery",) if name in ch07.ADIOS_CONDITIONS and c.seed == seeds[0] else ()
            if first:
                acts, first = acts + ("raw",), False
            items.append(Item("ch07", name, c, ps, (c.epochs,), acts))
    if "readouts" in groups:
        nb = _nb("02_decorrelation", preset, seeds, epochs, {}, overrides)
        items += [Item("readouts", _condition(c, STRATEGIES, nb.base), c, ps, (), ("readouts",))
                  for c in _chapter("02_decorrelation", nb)]
    return items


def _paper(over: dict) -> float:
    from focusmim.experiments.lr_selection import paper_rate

    return paper_rate(over.get("masker", "random_patches"))


# ----------------------------------------------------------------------------- what is there
def _stored(store, cfg: Config):
    """The finished run of ``cfg`` in ``store`` (a :class:`~focusmim.store.runs.RunStore`) without moving anything:
    a dry run reads the book's store and must not change it."""
    from focusmim.store.runs import Run

    d = store.path(cfg)
    try:
        m = json.loads((d / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return Run(d, cfg) if isinstance(m, dict) and m.get("finished") else None


def _probe_name(seeds, which, readout: str = "linear") -> str:
    """The name :func:`focusmim.evaluation.probe.evaluate` caches a probe under (the default settings)."""
    from focusmim.evaluation import probe

    if hasattr(probe, "probe_cache_name"):
        return probe.probe_cache_name(which, tuple(seeds), readout)
    return probe._cache_name(which, tuple(seeds), {"knn": True, **({} if readout == "linear" else {"readout": readout})})


def _cached_probe(run, seeds, which) -> dict | None:
    p = run.dir / _probe_name(seeds, which)
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _has_val(res: dict | None) -> bool:
    per = (res or {}).get("per_seed") or []
    return bool(per) and all(p.get("val_accuracy") is not None for p in per)


def _readouts():
    """``focusmim.evaluation.probe.READOUTS`` (issue 37), or None while the package has none."""
    from focusmim.evaluation import probe

    return getattr(probe, "READOUTS", None)


def _n_eval(cfg: Config) -> int:
    return 128 if cfg.dataset == "synthetic" else 1024  # chapter 5's n_eval (smoke: 128)


# action -> (the weights it needs, whether a run has its result cached, GPU seconds)
def _action_cached(action: str, run, it: Item) -> bool:
    d, cfg = run.dir, it.cfg
    if action == "val":
        return _has_val(_cached_probe(run, it.probe_seeds, "best"))
    if action == "latent":
        return any(d.glob("latent-stats-n*.json"))  # n = HELD_OUT, or every test image when there are fewer
    if action == "finetune":
        return any(d.glob("finetune-*-s0.json"))
    if action == "covert":
        return (d / f"covert-error-centroid-best-n{_n_eval(cfg)}.json").exists()
    if action == "covert-recon":
        return any(d.glob("covert-recon-centroid-best-classes-n*.json"))
    if action == "gallery":
        return any(d.glob("mask-gallery-*classes-n*.json"))
    if action == "fg-examples":
        return any(d.glob("foreground-examples-spread-n*.npz")) and any(d.glob("filter-counts-*.json"))
    if action == "raw":
        return any(d.glob("raw-pixels-*.json"))
    if action == "readouts":
        ro = _readouts()
        return ro is not None and all((d / _probe_name(it.probe_seeds, "best", readout=r)).exists() for r in ro)
    raise ValueError(f"unknown action {action!r}")


ACTION_WEIGHTS = {"val": "best", "latent": "best", "finetune": "epochs", "covert": "best", "covert-recon": "best",
                  "gallery": "snapshots", "fg-examples": None, "raw": None, "readouts": "best"}
ACTION_S = {"val": GUESS_PROBE_S, "latent": GUESS_LATENT_S, "finetune": GUESS_FINETUNE_S, "covert": GUESS_EVAL_S,
            "covert-recon": 1.0, "gallery": GUESS_EVAL_S, "fg-examples": 2.0, "raw": 2 * GUESS_PROBE_S,
            "readouts": GUESS_PROBE_S * GUESS_READOUTS}


def _weights_needed(it: Item, run) -> set:
    """The checkpoints (``'best'`` or an epoch) the item's missing probes and evaluations need."""
    need = set()
    for w in it.which:
        if run is None or _cached_probe(run, it.probe_seeds, w) is None:
            need.add(w)
    for a in it.actions:
        if run is None or not _action_cached(a, run, it):
            w = ACTION_WEIGHTS[a]
            if w == "epochs":
                need.add(it.cfg.epochs)
            elif w == "snapshots":
                need.update(it.cfg.snapshot_epochs or ("last",))
            elif w is not None:
                need.add(w)
    return need


ZOO_ON_MACHINE = True  # the dry run sets it to False: the lease leaves zoo/'s weights here (--pack holds them)


def _zoo_has(key: str, here: bool = False) -> bool:
    """Whether the zoo has the fp16 model of run ``key``, its file present (``here``: in this checkout, whatever
    the lease carries; else as the lease sees it: not at all while :data:`ZOO_ON_MACHINE` is False)."""
    from focusmim.store import zoo

    if not (here or ZOO_ON_MACHINE):
        return False
    try:
        e = zoo.for_run(key)
        return e is not None and (zoo.zoo_dir() / e["file"]).is_file()
    except Exception:  # a zoo that cannot be read stands for no zoo
        return False


# ----------------------------------------------------------------------------- estimates
class Rates:
    """Images per second for a config: from this lease's own runs once one is done, else from the stored
    runs' own metrics (same dataset, image size, model and objective, trained on a GPU), else the guess
    (:data:`GUESS_IMAGES_PER_S`, scaled by the CPU-measured cost of the model and objective against the
    autoencoder where the store has both)."""

    def __init__(self, store_root: Path | None):
        self.measured: dict[tuple, list[float]] = {}
        self.cpu: dict[tuple, list[float]] = {}
        self.lease: dict[tuple, float] = {}
        self.n_img: dict[str, int] = {}
        if store_root is None or not Path(store_root).is_dir():
            return
        for d in sorted(Path(store_root).iterdir()):
            try:
                cfg = json.loads((d / "config.json").read_text())
                m = json.loads((d / "metrics.json").read_text())
            except (OSError, ValueError):
                continue
            ips = m.get("images_per_s") or []
            if not m.get("finished") or not ips:
                continue
            steady = sorted(ips[1:] or ips)[len(ips[1:] or ips) // 2]
            k = (cfg.get("dataset"), cfg.get("image_size"), cfg.get("model"), cfg.get("objective"))
            gpu = "NVIDIA" in str(m.get("device_name", "")) or str(m.get("device", "")).startswith("cuda")
            (self.measured if gpu else self.cpu).setdefault(k, []).append(steady)

    @staticmethod
    def _k(cfg: Config) -> tuple:
        return (cfg.dataset, cfg.image_size, cfg.model, cfg.objective)

    def images_per_s(self, cfg: Config) -> tuple[float, str]:
        k = self._k(cfg)
        if k in self.lease:
            return self.lease[k], "this lease"
        if self.measured.get(k):
            return statistics.median(self.measured[k]), "stored GPU runs"
        guess = GUESS_IMAGES_PER_S.get(cfg.image_size, 20_000)
        ref = [v for kk, v in self.cpu.items() if kk[2:] == ("autoencoder", "mim")]
        own = [v for kk, v in self.cpu.items() if kk[2:] == k[2:]]
        if k[2:] != ("autoencoder", "mim") and ref and own:
            factor = statistics.median(sum(own, [])) / statistics.median(sum(ref, []))
            return guess * factor, f"guess x {factor:.2f} (CPU cost of {k[2]}/{k[3]})"
        return guess, "guess"

    def n_images(self, cfg: Config) -> int:
        key = (cfg.dataset, cfg.image_size, cfg.n_unlabeled, cfg.foreground)
        if key not in self.n_img:
            from focusmim.planning.plan import data_summary

            self.n_img[key] = int(data_summary(cfg.replace(foreground="none"))["used"]["unlabeled"])
        return self.n_img[key]

    def train_s(self, cfg: Config, stored_metrics: dict | None = None) -> float:
        """Seconds to train ``cfg`` (a retrain: the stored run's own training time when it was on a GPU)."""
        m = stored_metrics or {}
        if m.get("wall_time_s") and "NVIDIA" in str(m.get("device_name", "")):
            return float(m["wall_time_s"])
        ips, _ = self.images_per_s(cfg)
        return cfg.epochs * self.n_images(cfg) / ips


def item_state(it: Item, store, rates: Rates) -> tuple[str, float, dict]:
    """``(state, GPU seconds, details)`` of a run item against ``store``: 'done' (0 s: stored with every probe
    and evaluation cached), 'train' (not stored), 'evaluate' (stored; weights from the zoo, no retrain) or
    'retrain' (stored without the weights it needs: trained again into the side store)."""
    run = _stored(store, it.cfg)
    need = _weights_needed(it, run)
    missing_probes = [w for w in it.which if run is None or _cached_probe(run, it.probe_seeds, w) is None]
    missing_actions = [a for a in it.actions if run is None or not _action_cached(a, run, it)]
    evals = len(missing_probes) * GUESS_PROBE_S + sum(ACTION_S[a] for a in missing_actions)
    info = {"probes": missing_probes, "actions": missing_actions, "need": sorted(map(str, need))}
    if run is None:
        return "train", rates.train_s(it.cfg) + evals, info
    if not need and not missing_actions:
        return "done", 0.0, info
    own = all(run.checkpoint_path(w).exists() for w in need if w != "last")
    if own or (need <= {"best"} and _zoo_has(it.cfg.key())):
        return "evaluate", evals, info
    return "retrain", rates.train_s(it.cfg, run.metrics) + evals, info


# ----------------------------------------------------------------------------- the lease
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _files(store_root: Path) -> dict[str, tuple]:
    """``{key/name: (size, mtime)}`` of the run files under ``store_root`` (what a write-out compares with)."""
    out = {}
    if store_root.is_dir():
        for d in store_root.iterdir():
            if d.is_dir() and not d.name.startswith(".") and d.name != "tables":
                for p in d.iterdir():
                    if p.is_file():
                        st = p.stat()
                        out[f"{d.name}/{p.name}"] = (st.st_size, st.st_mtime_ns)
    return out


def _keep(name: str) -> bool:
    return not (name.endswith((".pt", ".lock", ".tmp")) or name.startswith("."))


def restore_tree(src: Path, store_root: Path) -> int:
    """Copy a store folder without weights (the book's ``results/store``) into ``store_root``; files already
    there are kept. Returns how many files were copied."""
    n = 0
    if not src.is_dir():
        return 0
    for d in sorted(src.iterdir()):
        if not d.is_dir() or d.name.startswith(".") or d.name == "tables":
            continue
        for p in d.iterdir():
            dest = store_root / d.name / p.name
            if p.is_file() and _keep(p.name) and not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, dest)
                n += 1
    return n


def restore(archive: Path, store_root: Path) -> int:
    """Unpack an earlier lease's ``store.tar.gz`` into the store (files already there are kept)."""
    n = 0
    with tarfile.open(archive) as tar:
        for m in tar.getmembers():
            if m.isfile() and not (store_root / m.name).exists():
                tar.extract(m, store_root, filter="data")
                n += 1
    return n


class Lease:
    """Works through a queue until a deadline (see the module docstring)."""

    def __init__(self, store_root: Path, out: Path, deadline: float, *, zoo: Path | None = None,
                 compile_mode: str | None = None):
        from focusmim.store.runs import RunStore

        _load()
        self.root = Path(store_root)
        self.store = RunStore(self.root)
        self.side = RunStore(self.root.with_name(self.root.name + "-weights"))
        self.scratch = RunStore(self.root.with_name(self.root.name + "-zoo-proxies"))
        self.zoo = zoo or self.root.with_name(self.root.name + "-zoo")
        self.zoo.mkdir(parents=True, exist_ok=True)
        self.out, self.deadline = Path(out), deadline
        self.log: list[dict] = []
        self.rates = Rates(self.root)
        self.mode = compile_mode  # the step's compile mode once the capture check (or the caller) chose one
        self.compiled = False
        self.compile_s = None
        self.maps: str | None = None  # None: not tried; "ok"; else why there are none
        self.first_raw = False
        self.start_files = _files(self.root)

    # -- weights
    def _with_mode(self, cfg: Config) -> Config:
        if self.mode and self.mode != "default" and cfg.compile and cfg.objective == "mim":
            new = cfg.replace(compile_mode=self.mode)
            assert new.key() == cfg.key()
            return new
        return cfg

    def _train(self, cfg: Config, store, rec: dict):
        from focusmim.planning.plan import record_compile_seconds
        from focusmim.training.train import pretrain

        run = pretrain(self._with_mode(cfg), store, progress=False)
        if run.outcome != "reused":
            m = run.metrics
            steady = m["images_per_s"][1:] or m["images_per_s"]
            self.rates.lease[Rates._k(cfg)] = sorted(steady)[len(steady) // 2]
            et = m["epoch_time"]
            if cfg.compile and len(et) > 1 and not self.compiled:  # the first compiled run of this process
                self.compile_s = rec["compile_s"] = round(et[0] - min(et[1:]), 1)
                record_compile_seconds(cfg, cfg.batch_size, self.compile_s, source="device_queue")
            self.compiled = self.compiled or cfg.compile
            rec["images_per_s"] = round(float(sum(m["images_per_s"]) / len(m["images_per_s"])), 1)
            rec["final_loss"] = m["loss"][-1]
        return run

    def weights(self, it: Item, run, need: set, rec: dict):
        """``(a run holding the weights in need, a note saying whose they are or None for the run's own)``."""
        if all(run.checkpoint_path(w).exists() for w in need):
            return run, None
        side = _stored(self.side, it.cfg)
        if side is not None and all(side.checkpoint_path(w).exists() for w in need):
            return side, side.load_json("lease-retrain.json")["note"]
        if need <= {"best"} and _zoo_has(it.cfg.key()):
            from focusmim.store import zoo

            proxy = self.scratch.open(it.cfg)
            return proxy, f"the zoo's fp16 model {zoo.for_run(it.cfg.key())['name']} (run {it.cfg.key()})"
        t0 = time.time()
        side = self._train(it.cfg, self.side, {})
        m, mine = run.metrics, side.metrics
        import torch

        note = (f"retrained by the GPU lease of {time.strftime('%Y-%m-%d')} on "
                f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'} (the stored run's weights "
                f"were not kept): final training loss {mine['loss'][-1]:.5f}, the stored run's {m['loss'][-1]:.5f}")
        side.save_json("lease-retrain.json", {"note": note})
        rec["retrain_s"] = round(time.time() - t0, 1)
        return side, note

    def _copy_back(self, wrun, run, note: str | None, rec: dict) -> None:
        """Files ``wrun`` (weights elsewhere) computed that ``run`` lacks, into ``run``, with their weights' note."""
        if wrun is run:
            return
        record = run.load_json("lease-weights.json") or {}
        skip = {"config.json", "metrics.json", "metrics.csv", "manifest.json", "lease-retrain.json"}
        for p in sorted(wrun.dir.iterdir()):
            if p.is_file() and _keep(p.name) and p.name not in skip and not (run.dir / p.name).exists():
                run.write_bytes(p.name, wrun.read_bytes(p.name))
                record[p.name] = note
                rec.setdefault("copied", []).append(p.name)
        if rec.get("copied"):
            run.save_json("lease-weights.json", record)

    # -- one item
    def _maps(self, it: Item, rec: dict) -> None:
        from focusmim.chapters import ch04_object_loss as ch04
        from focusmim.chapters.ch07_learned_masks import AFFINITY_N
        from focusmim.data import load_for_config
        from focusmim.data import foreground as fg_maps

        cfg = it.cfg
        try:
            ds = load_for_config(cfg.replace(foreground="none"), "unlabeled")
            t0 = time.time()
            fg_maps.foreground_maps(ds.images[:32], progress=False)
            ips = 32 / max(time.time() - t0, 1e-6)
        except Exception as exc:  # no rembg/onnxruntime, no weights: chapters 4 and 5 wait
            self.maps = f"no foreground maps on this machine ({type(exc).__name__}: {str(exc)[:200]})"
            rec["status"] = f"skipped: {self.maps}"
            return
        n = len(ds) + AFFINITY_N + 1024
        need, left = n / ips, self.deadline - time.time()
        rec.update(maps_images_per_s=round(ips, 1), estimate_s=round(need, 1))
        if need * 1.1 > left:
            self.maps = (f"the maps of {n:,} images would take ~{need:.0f} s at {ips:.1f} images/s, "
                         f"{left:.0f} s were left")
            rec["status"] = f"skipped: {self.maps}"
            return
        t0 = time.time()
        ch04.filter_counts(cfg, "rembg", progress=False)  # the pretraining split's maps, into the cache training reads
        fg_maps.split_with_maps(cfg, "test", AFFINITY_N, drop=True, progress=False)  # chapter 7's affinity
        fg_maps.split_with_maps(cfg, "test", 1024, progress=False)  # chapter 5's errors
        self.maps = "ok"
        rec.update(status="done", seconds=round(time.time() - t0, 1))

    def _capture(self, rec: dict) -> None:
        import torch

        import step_capture

        if not torch.cuda.is_available():
            rec["status"] = "skipped: no CUDA device (CUDA graphs need one); the lease keeps compile_mode 'default'"
            self.mode = self.mode or "default"
            return
        res = step_capture.capture_check()
        (self.out / "capture.json").write_text(json.dumps(res, indent=1))
        self.mode = res["use"]
        rec.update(status="done", use=res["use"], verdict=res["verdict"], seconds=round(res["seconds"], 1))

    def _action(self, a: str, it: Item, wrun, run, rec: dict) -> None:
        from focusmim.chapters import ch02_decorrelation as ch02
        from focusmim.chapters import ch04_object_loss as ch04
        from focusmim.chapters import ch05_covert_attention as ch05
        from focusmim.chapters import ch06_architectures as ch06
        from focusmim.chapters import ch07_learned_masks as ch07
        from focusmim.data import load_for_config
        from focusmim.evaluation.probe import evaluate, raw_pixel_baseline

        cfg = it.cfg
        if a == "val":
            fresh = evaluate(wrun, it.probe_seeds, "best")
            if wrun is not run:  # merge the validation accuracies into the stored probe; its test numbers stay
                name = _probe_name(it.probe_seeds, "best")
                old = run.read_bytes(name)
                merged = json.loads(old)
                for p, q in zip(merged["per_seed"], fresh["per_seed"]):
                    p["val_accuracy"] = q.get("val_accuracy")
                merged["val_accuracy_weights"] = rec.get("weights") or "the run's own"
                run.save_json(name, merged)
                rec.setdefault("updated", []).append({"run": run.dir.name, "file": name, "base_sha256": _sha(old)})
            rec["val_accuracy"] = round(validation_accuracy(_cached_probe(run, it.probe_seeds, "best")), 4)
        elif a == "latent":
            held = load_for_config(cfg, "test").images[:ch02.HELD_OUT]
            rec["decorrelation"] = round(ch02.run_latent_stats(wrun, held)["decorrelation"], 3)
        elif a == "finetune":
            rec["finetune"] = round(ch06.finetune_run(wrun, _preset_of(cfg))["accuracy"], 4)
        elif a in ("covert", "covert-recon", "gallery", "fg-examples") and cfg.dataset != "synthetic" \
                and self.maps != "ok":
            rec.setdefault("actions_skipped", {})[a] = f"needs foreground maps: {self.maps or 'not made in this lease'}"
        elif a == "covert":
            ch05.evaluate_errors(wrun, _n_eval(cfg))
        elif a == "covert-recon":
            ch05.reconstructions(wrun, 4)
        elif a == "gallery":
            ch07.mask_gallery(wrun)
            for m in ("random_patches", "masked_periphery"):
                ch07.fixed_mask_affinity(cfg, m, run=run)
        elif a == "fg-examples":
            ch04.foreground_examples(cfg, run=run)
            ch04.filter_counts(cfg.replace(foreground="none"), "rembg" if cfg.foreground == "rembg" else "gt", run=run)
        elif a == "raw":
            rec["raw_pixels"] = round(raw_pixel_baseline(cfg, it.probe_seeds, run=run)["accuracy_mean"], 4)
        elif a == "readouts":
            ro = _readouts()
            if ro is None:
                rec.setdefault("actions_skipped", {})[a] = ("focusmim.evaluation.probe.READOUTS does not exist in this "
                                                             "checkout (issue 37 not merged)")
                return
            from focusmim.evaluation import probe

            if hasattr(probe, "evaluate_readouts"):  # the features once for every readout
                got = probe.evaluate_readouts(wrun, it.probe_seeds, "best", readouts=tuple(ro))
            else:
                got = {r: evaluate(wrun, it.probe_seeds, "best", readout=r) for r in ro}
            rec["readouts"] = {str(r): round(v["accuracy_mean"], 4) for r, v in got.items()}

    def _run_item(self, it: Item, rec: dict) -> None:
        from focusmim.store import zoo as zoo_mod
        from focusmim.evaluation.probe import evaluate

        state, need_s, info = item_state(it, self.store, self.rates)
        rec.update(state=state, estimate_s=round(need_s, 1))
        if state == "done":
            rec["status"] = "done (stored, every probe and evaluation cached)"
            return
        if it.cfg.compile and not self.compiled and state in ("train", "retrain"):
            need_s += GUESS_COMPILE_S
        maps_needed = it.cfg.foreground == "rembg"
        if maps_needed and self.maps != "ok":
            rec["status"] = f"skipped: needs foreground maps: {self.maps or 'the maps item has not run'}"
            return
        left = self.deadline - time.time()
        rec["left_s"] = round(left, 1)
        if need_s * 1.1 > left:
            rec["status"] = "skipped: would not finish before the deadline"
            return
        t0 = time.time()
        run = self._train(it.cfg, self.store, rec) if state == "train" else _stored(self.store, it.cfg)
        rec["outcome"] = getattr(run, "outcome", None) or "stored"
        need = _weights_needed(it, run)
        wrun, note = self.weights(it, run, need, rec) if need else (run, None)
        if note:
            rec["weights"] = note
        rec["probes"] = {}
        for w in it.which:
            src = run if _cached_probe(run, it.probe_seeds, w) is not None else wrun
            rec["probes"][str(w)] = round(evaluate(src, it.probe_seeds, w)["accuracy_mean"], 4)
        for a in it.actions:
            if not _action_cached(a, run, it):
                self._action(a, it, wrun, run, rec)
        self._copy_back(wrun, run, note, rec)
        if it.zoo and run.checkpoint_path("best").exists():
            rec["zoo"] = zoo_mod.export(run, self.zoo / f"{it.name}.safetensors", name=it.name).name
        rec["status"] = "done"
        rec["seconds"] = round(time.time() - t0, 1)

    def run(self, items: list[Item]) -> list[dict]:
        todo = list(items)
        i = 0
        while i < len(todo):
            it = todo[i]
            i += 1
            rec = {"group": it.group, "condition": it.condition, "seed": it.seed,
                   "key": it.cfg.key() if it.cfg is not None and it.kind == "run" else None}
            try:
                if it.kind == "capture":
                    left = self.deadline - time.time()
                    if GUESS_CAPTURE_S * 1.1 > left:
                        rec["status"] = "skipped: would not finish before the deadline"
                    else:
                        self._capture(rec)
                elif it.kind == "maps":
                    self._maps(it, rec)
                elif it.kind == "resolve":
                    got = it.resolve(self.store)
                    if got is None:
                        rec["status"] = f"skipped: waits for {it.note}"
                    else:
                        todo[i:i] = got
                        rec["status"] = f"resolved into {len(got)} runs"
                else:
                    self._run_item(it, rec)
            except Exception as exc:  # one failure must not lose the lease: log it, go on
                rec["status"] = f"failed: {type(exc).__name__}: {exc}"
                rec["traceback"] = traceback.format_exc()[-3000:]
                traceback.print_exc()
            self.log.append(rec)
            print(f"{rec['status'][:90]:90s} | {it.group} {it.condition} seed {it.seed}", flush=True)
            if rec["status"] == "done" or rec["status"].startswith("resolved"):
                self.write_out()
        self.write_out()
        return self.log

    # -- the write-out
    def write_out(self) -> None:
        """Everything worth keeping so far into ``out`` (each file replaced atomically; at most 8 files)."""
        out = self.out
        out.mkdir(parents=True, exist_ok=True)
        now = _files(self.root)
        touched = sorted({k.split("/")[0] for k, v in now.items() if self.start_files.get(k) != v and _keep(k.split("/")[1])})
        tmp = out / ".store.tar.gz.tmp"
        with tarfile.open(tmp, "w:gz") as tar:
            for key in touched:
                for p in sorted((self.root / key).iterdir()):
                    rel = f"{key}/{p.name}"
                    if p.is_file() and _keep(p.name) and (self.start_files.get(rel) != now.get(rel)
                                                          or p.name in ("config.json", "manifest.json")):
                        tar.add(p, arcname=rel)
        os.replace(tmp, out / "store.tar.gz")
        files = sorted(self.zoo.glob("*.safetensors"))
        per = max(ZOO_PER_TAR, -(-len(files) // ZOO_TARS))
        for j in range(0, len(files), per):
            dest = out / f"zoo-{j // per + 1}.tar"
            t = dest.with_name(f".{dest.name}.tmp")
            with tarfile.open(t, "w") as tar:
                for f in files[j:j + per]:
                    tar.add(f, arcname=f.name)
            os.replace(t, dest)
        t = out / ".queue.json.tmp"
        t.write_text(json.dumps(self.log, indent=1, default=str))
        os.replace(t, out / "queue.json")
        sums = "".join(f"{_sha(p.read_bytes())}  {p.name}\n" for p in sorted(out.iterdir())
                       if p.is_file() and not p.name.startswith(".") and p.name != "SHA256SUMS")
        t = out / ".SHA256SUMS.tmp"
        t.write_text(sums)
        os.replace(t, out / "SHA256SUMS")


def _preset_of(cfg: Config) -> str:
    from focusmim.config.presets import PRESETS

    return "smoke" if cfg.dataset == "synthetic" else next(
        (p for p, v in PRESETS.items() if v["dataset"] == cfg.dataset and v["image_size"] == cfg.image_size), "gpu")


def run_queue(items: list[Item], store_root: Path, out: Path, deadline: float, *, zoo: Path | None = None
              ) -> list[dict]:
    """Work through ``items`` in order until ``deadline`` (a ``time.time()``), writing ``out`` after each."""
    return Lease(store_root, out, deadline, zoo=zoo).run(items)


# ----------------------------------------------------------------------------- the dry run
def plan_leases(rows: list[dict], n_leases: int = 3) -> list[dict]:
    """Where each row would run: leases of :data:`LEASE_S` of device time (the start counted), each of
    commands of at most :data:`COMMAND_S` (setup and write-out inside), one compilation per command, the
    deadline rule of the queue (an item that does not fit what is left of a command waits for the next one;
    later, shorter items go first). Sets ``row["lease"]``, ``row["command"]``; returns one summary per lease."""
    pending = [r for r in rows if r["seconds"] > 0]
    done_groups: set = set()
    leases = []
    for lease in range(1, n_leases + 1):
        device_left = LEASE_S - START_S
        cmd = 0
        used = START_S
        while device_left - SETUP_S - WRITE_S >= MIN_COMMAND_S and pending:
            cmd += 1
            budget = min(COMMAND_S, device_left) - SETUP_S - WRITE_S
            spent, compiled, took = 0.0, False, []
            for r in pending:
                if r.get("after") and r["after"] not in done_groups:
                    continue
                cost = r["seconds"] + (GUESS_COMPILE_S if r.get("compiles") and not compiled else 0.0)
                if cost * 1.1 <= budget - spent:
                    spent += cost
                    compiled = compiled or bool(r.get("compiles"))
                    r["lease"], r["command"] = lease, cmd
                    took.append(r)
            pending = [r for r in pending if r not in took]
            for g in {r["group"] for r in rows}:
                if not any(r["group"] == g for r in pending):
                    done_groups.add(g)
            if not took:
                break
            this = min(COMMAND_S, device_left)
            this = min(this, spent + SETUP_S + WRITE_S)
            device_left -= this
            used += this
        leases.append({"lease": lease, "commands": cmd, "device_s": used,
                       "items": sum(r.get("lease") == lease for r in rows)})
    for r in pending:
        r.setdefault("lease", None)
    return leases


def describe(items: list[Item], store_root: Path | None, pack: Path | None = None, *,
             zoo_on_machine: bool = False) -> str:
    """The dry run: every item with its state and GPU seconds, where the first three leases end, the totals.
    The lease does not carry ``zoo/``'s weights (``--pack`` holds them here): an item that would evaluate a
    zoo model retrains its run instead, and is counted so (``zoo_on_machine`` counts the zoo as there)."""
    global ZOO_ON_MACHINE
    was, ZOO_ON_MACHINE = ZOO_ON_MACHINE, zoo_on_machine
    try:
        return _describe(items, store_root, pack)
    finally:
        ZOO_ON_MACHINE = was


def _describe(items: list[Item], store_root: Path | None, pack: Path | None) -> str:
    from focusmim.store.runs import RunStore

    store = RunStore(store_root if store_root is not None else Path(tempfile.mkdtemp()))
    rates = Rates(store_root)
    rows = []
    notes = []
    for it in items:
        if it.kind == "resolve":
            notes.append(f"{it.group}: resolved at run time from {it.note}; shown here as if the paper's rates won "
                         f"(masked periphery 1e-4, the others 5e-4): then these are chapter 1's runs")
            for sub in it.assumed:
                rows.append(_row(sub, store, rates, after="lr-select"))
            continue
        if it.kind == "capture":
            rows.append({"group": it.group, "condition": it.condition, "seed": "-", "key": "-", "epochs": "-",
                         "state": "check", "seconds": GUESS_CAPTURE_S, "compiles": False, "detail": "4 compilations"})
            continue
        if it.kind == "maps":
            n = rates.n_images(it.cfg) + 2000 + 1024
            rows.append({"group": it.group, "condition": it.condition, "seed": "-", "key": "-", "epochs": "-",
                         "state": "maps", "seconds": n / GUESS_MAPS_IPS, "compiles": False,
                         "detail": f"{n:,} images at {GUESS_MAPS_IPS:g}/s (torch u2netp on the GPU: a guess)"})
            continue
        rows.append(_row(it, store, rates, after="maps" if it.cfg.foreground == "rembg" else None))
    leases = plan_leases(rows)
    head = (f"{'#':>3} {'group':11} {'condition':44} {'seed':>4} {'key':16} {'ep':>3} {'state':8} {'GPU s':>6} "
            f"{'lease':>5} detail")
    lines = [head]
    marks = {}
    for i, r in enumerate(rows):
        if r.get("lease"):
            marks[r["lease"]] = i
    ends = {i: lease for lease, i in marks.items()}
    for i, r in enumerate(rows, 1):
        where = f"{r['lease']}.{r['command']}" if r.get("lease") else ("-" if r["seconds"] == 0 else "later")
        lines.append(f"{i:>3} {r['group']:11} {r['condition'][:44]:44} {str(r['seed']):>4} {r['key']:16} "
                     f"{str(r['epochs']):>3} {r['state']:8} {r['seconds']:>6.0f} {where:>5} {r.get('detail', '')}")
        if i - 1 in ends:
            lines.append(f"    ======== lease {ends[i - 1]} ends here (its last item; lease.command in the column "
                         f"'lease') ========")
    totals: dict[str, float] = {}
    for r in rows:
        totals[r["group"]] = totals.get(r["group"], 0.0) + r["seconds"]
    lines.append("")
    lines.append("GPU seconds by group: " + ", ".join(f"{g} {s / 60:.1f} min" for g, s in totals.items() if s))
    whole = sum(totals.values())
    lines.append(f"GPU time for the whole queue: about {whole / 60:.1f} min (plus {GUESS_COMPILE_S:.0f} s of "
                 f"compilation per command, {START_S:.0f} s to start each lease, {SETUP_S:.0f} s of setup and "
                 f"{WRITE_S:.0f} s of write-out per command)")
    for L in leases:
        last = max((i for i, r in enumerate(rows, 1) if r.get("lease") == L["lease"]), default=None)
        lines.append(f"lease {L['lease']}: {L['items']} items in {L['commands']} command(s), "
                     f"{L['device_s'] / 60:.1f} of {LEASE_S / 60:.0f} min of device time"
                     + (f"; its last item is #{last}" if last else ""))
    left = [r for r in rows if r["seconds"] > 0 and not r.get("lease")]
    too_long = [f"{r['group']} {r['condition']}" for r in left if r["seconds"] * 1.1 > COMMAND_S - SETUP_S - WRITE_S]
    lines.append(f"after three leases: {len(left)} items left ({sum(r['seconds'] for r in left) / 60:.1f} GPU min)"
                 + ("; longer than one command, never started: " + ", ".join(too_long) if too_long else ""))
    lines += [f"note: {n}" for n in dict.fromkeys(notes)]
    ro = _readouts()
    lines.append("note: readouts: " + (f"{len(ro)} readouts in focusmim.evaluation.probe.READOUTS" if ro is not None else
                                       f"focusmim.evaluation.probe.READOUTS does not exist yet: the items are skipped at run "
                                       f"time; estimated with {GUESS_READOUTS}"))
    lines.append(f"note: speeds: {GUESS_IMAGES_PER_S} images/s (H200, the autoencoder) unless stored GPU runs of "
                 f"the same model and data say otherwise; ConvNeXt and ADIOS scaled by their CPU cost in the store; "
                 f"a retrain takes the stored run's own training time")
    zr = [r for r in rows if r.get("zoo_here")]
    if ZOO_ON_MACHINE:
        lines.append("note: zoo: counted as on the machine (its fp16 models stand in for 'best' weights)")
    else:
        lines.append(f"note: zoo: the lease does not carry zoo/'s weights (scripts/device_queue.sh --pack holds them "
                     f"here, to fit 64 MiB): {len(zr)} items whose zoo model is here retrain their run on the machine "
                     f"instead ({sum(r['seconds'] for r in zr) / 60:.1f} GPU min, counted above)")
    if pack is not None:
        lines.append(f"packed data: {pack} ({pack.stat().st_size / 2**20:.1f} MiB)" if pack.exists()
                     else f"packed data: {pack} is not there yet (scripts/device_queue.sh --pack makes it)")
    return "\n".join(lines)


def _row(it: Item, store, rates: Rates, after: str | None = None) -> dict:
    state, s, info = item_state(it, store, rates)
    detail = []
    if info["probes"] and state != "done":
        detail.append(f"probes {','.join(map(str, info['probes']))}")
    if info["actions"] and state != "done":
        detail.append(f"{'+'.join(info['actions'])}")
    zoo_here = state == "retrain" and set(info["need"]) <= {"best"} and _zoo_has(it.cfg.key(), here=True)
    if zoo_here:
        detail.append("weights: retrain (the zoo's model stays here)")
    elif state == "retrain":
        detail.append("weights: retrain")
    elif state == "evaluate" and info["need"]:
        detail.append("weights: zoo fp16")
    if it.zoo:
        detail.append("zoo")
    return {"group": it.group, "condition": it.condition, "seed": it.cfg.seed, "key": it.cfg.key(),
            "epochs": it.cfg.epochs, "state": state, "seconds": s, "compiles": it.cfg.compile and state in
            ("train", "retrain"), "after": after, "detail": "; ".join(detail), "zoo_here": zoo_here}


# ----------------------------------------------------------------------------- pack (here)
HOLD = ".lease-hold"  # ignored folder at the repository's root: what must not travel waits here during a lease
BOOK_ARCHIVE = "book-store.tar.xz"  # the book's store, packed into the carry folder (restored on the machine)


def _git_files(root: Path) -> list[str]:
    """Tracked files and untracked files git does not ignore (what a lease's call sends of the checkout)."""
    import subprocess

    ls = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                        capture_output=True, check=True).stdout.decode().split("\0")
    return sorted({p for p in ls if p})


def _held(path: str) -> bool:
    """Whether a travelling file stays here during a lease: the zoo's weights and the book's store (which travels
    packed instead, see :func:`pack_store`)."""
    return (path.startswith("zoo/") and path.endswith(".safetensors")) or path.startswith("results/store/")


def _status(root: Path) -> list[str]:
    import subprocess

    res = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", "zoo", "results/store"],
                         cwd=root, capture_output=True, text=True, check=True)
    return sorted(ln for ln in res.stdout.splitlines() if ln)


def _book_files(root: Path) -> list[str]:
    """The book's store's run files that travel (as :func:`restore_tree` would copy them)."""
    out = []
    for p in _git_files(root):
        parts = p.split("/")
        if len(parts) == 4 and parts[:2] == ["results", "store"] and not parts[2].startswith(".") \
                and parts[2] != "tables" and _keep(parts[3]) and (root / p).is_file() and not (root / p).is_symlink():
            out.append(p)
    return out


def pack_store(root: Path, dest: Path) -> dict:
    """The book's store (its travelling run files, ``key/name``) as one xz archive ``dest``, which the machine
    restores into its run store (``--book-store``); JSON packs about 8 times smaller."""
    import lzma

    files = _book_files(root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    raw = 0
    with tarfile.open(tmp, "w:xz", preset=9 | lzma.PRESET_EXTREME) as tar:
        for rel in files:
            raw += (root / rel).stat().st_size
            tar.add(root / rel, arcname=rel[len("results/store/"):], recursive=False)
    os.replace(tmp, dest)
    return {"files": len(files), "runs": len({f.split("/")[2] for f in files}), "raw": raw,
            "packed": dest.stat().st_size}


def _ensure_ignored(root: Path, name: str) -> None:
    import subprocess

    if subprocess.run(["git", "check-ignore", "-q", name], cwd=root).returncode != 0:
        ex = Path(subprocess.run(["git", "rev-parse", "--git-path", "info/exclude"], cwd=root, capture_output=True,
                                 text=True, check=True).stdout.strip())
        ex = ex if ex.is_absolute() else root / ex
        ex.parent.mkdir(parents=True, exist_ok=True)
        with ex.open("a") as f:
            f.write(f"\n/{name}/\n")


def hold_tree(root: Path = ROOT) -> dict:
    """Move what must not travel (:func:`_held`) into ``root/.lease-hold`` (ignored by git), keeping the paths;
    the manifest (path, size, sha256 of each file, and ``git status`` of zoo/ and results/store before) is written
    first. Moved, never deleted: :func:`restore_held` puts every file back."""
    hold = root / HOLD
    _ensure_ignored(root, HOLD)
    if (hold / "MANIFEST.json").exists():
        raise RuntimeError(f"{hold} already holds files of an earlier --pack: scripts/device_queue.sh --restore-tree")
    files = [p for p in _git_files(root) if _held(p) and (root / p).is_file() and not (root / p).is_symlink()]
    man = {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "status": _status(root),
           "files": [{"path": p, "size": (root / p).stat().st_size, "sha256": _sha((root / p).read_bytes())}
                     for p in files]}
    hold.mkdir(parents=True, exist_ok=True)
    t = hold / ".MANIFEST.json.tmp"
    t.write_text(json.dumps(man, indent=1))
    os.replace(t, hold / "MANIFEST.json")
    for e in man["files"]:
        dest = hold / e["path"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(root / e["path"], dest)  # a rename: the hold is inside the checkout
    return man


def restore_held(root: Path = ROOT) -> tuple[str, bool]:
    """Put back what :func:`hold_tree` moved (a file changed here meanwhile is kept, the held one stays in the
    hold and is named), verify every file's sha256 and compare ``git status`` of zoo/ and results/store with the
    one before the pack. Returns ``(report, intact)``."""
    hold = root / HOLD
    mp = hold / "MANIFEST.json"
    if not mp.exists():
        return f"nothing held in {hold}: the tree is as it was", True
    man = json.loads(mp.read_text())
    moved = same = 0
    conflicts, missing = [], []
    for e in man["files"]:
        src, dest = hold / e["path"], root / e["path"]
        if src.exists():
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dest)
                moved += 1
            elif _sha(dest.read_bytes()) == e["sha256"]:
                src.unlink()  # the same bytes are back in place already: the held copy is a duplicate
                same += 1
            else:
                conflicts.append(e["path"])
                continue
        if not dest.exists() or _sha(dest.read_bytes()) != e["sha256"]:
            missing.append(e["path"])
    after = _status(root)
    new = [ln for ln in after if ln not in man["status"]]
    lost = [ln[3:] for ln in new if ln[:2] in (" D", "D ")]
    lines = [f"restored {moved} files from {hold} ({same} were back already), every sha256 checked"]
    if conflicts:
        lines.append(f"{len(conflicts)} files changed here while held: the changed ones kept, the held ones stay in "
                     f"{hold}: " + ", ".join(conflicts[:10]))
    if missing:
        lines.append(f"MISSING or different after the restore: {', '.join(missing[:10])}")
    if new:
        lines.append("git status of zoo/ and results/store differs from before the pack:\n  " + "\n  ".join(new[:20]))
    if lost:
        lines.append("the files are still in git: git checkout -- " + " ".join(lost[:20]) +
                     (" ..." if len(lost) > 20 else ""))
    intact = not (conflicts or missing or new)
    if intact:
        lines.append("git status of zoo/ and results/store is as before the pack: the tree is intact")
        os.replace(mp, hold / "last-restore.json")
        for d in sorted((p for p in hold.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()  # only empty folders
    return "\n".join(lines), intact


def travelling_bytes(root: Path = ROOT, carry=(".carry",)) -> dict:
    """What a lease's call sends: tracked files present on disk and untracked files git does not ignore (their
    sizes in the working tree; a link as a link), ``shared/`` inside the checkout, and the carried paths (each
    file of a carried folder named); against :data:`MAX_TREE_MIB`."""
    def size(rel):
        try:
            return (root / rel).lstat().st_size
        except OSError:
            return 0

    tree = _git_files(root)
    sizes = {p: size(p) for p in tree}
    out = {"tree": sum(sizes.values()), "store": sum(v for p, v in sizes.items() if p.startswith("results/store/")),
           "zoo": sum(v for p, v in sizes.items() if p.startswith("zoo/")),
           "notebooks": sum(v for p, v in sizes.items() if p.startswith("notebooks/")), "carry": {}, "files": {}}
    if (root / "shared").is_dir():
        extra = [q for q in (root / "shared").rglob("*") if q.is_file() and str(q.relative_to(root)) not in sizes]
        out["tree"] += sum(q.lstat().st_size for q in extra)
    for c in carry:
        q = root / c
        files = [q] if q.is_file() else sorted(x for x in q.rglob("*") if x.is_file()) if q.is_dir() else []
        out["carry"][c] = sum(x.lstat().st_size for x in files)
        for x in files:
            out["files"][str(x.relative_to(root))] = x.lstat().st_size
    out["total"] = out["tree"] + sum(out["carry"].values())
    out["limit"] = int(MAX_TREE_MIB * 2**20)
    return out


def pack_report(root: Path = ROOT, carry=(".carry",)) -> tuple[str, bool]:
    """The sizes of what a lease sends with ``run(carry=carry)``, and whether they fit."""
    b = travelling_bytes(root, carry)
    mib = lambda n: f"{n / 2**20:.1f} MiB"  # noqa: E731
    ok = b["total"] <= b["limit"]
    held = root / HOLD / "MANIFEST.json"
    n_held = len(json.loads(held.read_text())["files"]) if held.exists() else 0
    lines = [f"a lease sends {mib(b['total'])} of at most {mib(b['limit'])} "
             f"({'fits, ' + mib(b['limit'] - b['total']) + ' to spare' if ok else 'does NOT fit'}) "
             f"with run carry {json.dumps(list(carry))}:",
             f"  the working tree (tracked files on disk + untracked not ignored) {mib(b['tree'])}: results/store "
             f"{mib(b['store'])}, zoo/ {mib(b['zoo'])}, notebooks/ {mib(b['notebooks'])}, the rest "
             f"{mib(b['tree'] - b['store'] - b['zoo'] - b['notebooks'])}"
             + (f"; {n_held} files held in {HOLD}/ (zoo weights, the book's store)" if n_held else "")]
    for name, n in sorted(b["files"].items(), key=lambda kv: -kv[1]):
        what = ("the book's store, packed" if name.endswith(BOOK_ARCHIVE) else "u2netp's weights (the maps)"
                if name.endswith("u2netp.onnx") else "a dataset" if name.endswith(".tar.xz") else "")
        lines.append(f"  {name} {mib(n)}" + (f" ({what})" if what else ""))
    if not ok:
        lines.append(f"TOO LARGE by {mib(b['total'] - b['limit'])}: the call would be refused.")
        if b["store"] or b["zoo"]:
            lines.append(f"results/store ({mib(b['store'])}) and zoo/ ({mib(b['zoo'])}) are in the tree: "
                         f"scripts/device_queue.sh --pack holds them here and packs the store into the carry folder")
        u2 = sum(n for k, n in b["files"].items() if k.endswith("u2netp.onnx"))
        if u2 and b["total"] - u2 <= b["limit"]:
            lines.append(f"without u2netp's weights it fits ({mib(b['total'] - u2)}): pack with NO_U2NET=1 for the "
                         f"leases that make no foreground maps (their maps item is then skipped with the reason)")
        lines.append("The dataset's JPEG bytes are part of every run key (they cannot be re-encoded smaller); see "
                     "book/how_to_run.md, 'A short GPU lease'")
    return "\n".join(lines), ok


# ----------------------------------------------------------------------------- bring back (here)
def _check_file(key: str, name: str, data: bytes, manifest: dict | None) -> str | None:
    """Why a returned run file is damaged, or None."""
    import numpy as np

    e = (manifest or {}).get(name)
    if e is not None and (e.get("size") != len(data) or e.get("sha256") != _sha(data)):
        return f"{key}/{name}: does not match its manifest entry (size or sha256)"
    try:
        if name.endswith(".json"):
            json.loads(data)
        elif name.endswith(".npz"):
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                [z[k] for k in z.files]
    except Exception as exc:
        return f"{key}/{name}: unreadable ({type(exc).__name__}: {exc})"
    return None


def bring_back(src: Path, store_root: Path = ROOT / "results" / "store", zoo_dir: Path = ROOT / "zoo",
               bench: Path = ROOT / "benchmarks" / "results") -> dict:
    """Put a lease's output folder ``src`` where the book reads it, verified (see :func:`main`'s help).

    Files are checked against ``SHA256SUMS``; a damaged archive, run file or model is named and set aside under
    ``src/set-aside/``; nothing already in the store is lost: a returned file that differs from the book's is
    installed only when the lease says it updated exactly the book's version (``queue.json``, ``updated``; the
    book's file is then kept under ``src/replaced/``), else it is set aside as a conflict."""
    from focusmim.store.runs import Run

    src = Path(src)
    aside = src / "set-aside"
    report = {"damaged": [], "conflicts": [], "added_runs": [], "added_files": 0, "replaced": [], "zoo": [],
              "zoo_left": [], "logs": []}

    def set_aside(p: Path, why: str) -> None:
        aside.mkdir(parents=True, exist_ok=True)
        shutil.move(str(p), aside / p.name)
        report["damaged"].append(f"{p.name}: {why}")

    sums = {}
    if (src / "SHA256SUMS").exists():
        for line in (src / "SHA256SUMS").read_text().splitlines():
            h, _, name = line.partition("  ")
            sums[name] = h
    else:
        report["damaged"].append("SHA256SUMS: missing (the archives are checked by their contents only)")
    for name, h in sums.items():
        p = src / name
        if not p.exists():
            report["damaged"].append(f"{name}: listed in SHA256SUMS but not returned")
        elif _sha(p.read_bytes()) != h:
            set_aside(p, "does not match its SHA256SUMS line")
    log = []
    if (src / "queue.json").exists():
        try:
            log = json.loads((src / "queue.json").read_text())
        except ValueError as exc:
            set_aside(src / "queue.json", f"unreadable ({exc})")
    updated = {(u["run"], u["file"]): u["base_sha256"] for r in log for u in r.get("updated", [])}
    # the runs
    if (src / "store.tar.gz").exists():
        with tempfile.TemporaryDirectory() as tmp:
            try:
                with tarfile.open(src / "store.tar.gz") as tar:
                    tar.extractall(tmp, filter="data")
            except (tarfile.TarError, OSError, EOFError) as exc:
                set_aside(src / "store.tar.gz", f"unreadable archive ({exc})")
            for d in sorted(Path(tmp).iterdir()) if Path(tmp).is_dir() else []:
                if not d.is_dir():
                    continue
                key = d.name
                try:
                    man = json.loads((d / "manifest.json").read_text())["files"]
                except (OSError, ValueError, KeyError):
                    man = None
                    report["damaged"].append(f"{key}/manifest.json: missing or unreadable (files checked by content)")
                good = {}
                for p in sorted(d.iterdir()):
                    if not p.is_file() or p.name == "manifest.json" or not _keep(p.name):
                        continue
                    data = p.read_bytes()
                    why = _check_file(key, p.name, data, man)
                    if why:
                        (aside / key).mkdir(parents=True, exist_ok=True)
                        shutil.copy2(p, aside / key / p.name)
                        report["damaged"].append(why)
                    else:
                        good[p.name] = data
                dest = Run(store_root / key, None)
                new_run = not (store_root / key / "config.json").exists()
                if new_run and "config.json" not in good:
                    report["damaged"].append(f"{key}: a new run without its config.json; set aside")
                    continue
                if not new_run and "config.json" in good and dest.read_bytes("config.json") != good["config.json"]:
                    ours = json.loads(dest.read_bytes("config.json"))
                    theirs = json.loads(good["config.json"])
                    if {k: v for k, v in ours.items() if k != "data_root"} != \
                            {k: v for k, v in theirs.items() if k != "data_root"}:
                        report["conflicts"].append(f"{key}: config.json differs from the book's; run set aside")
                        shutil.copytree(d, src / "conflicts" / key, dirs_exist_ok=True)
                        continue
                order = ["config.json"] + sorted(n for n in good if n not in ("config.json", "metrics.json")) + \
                    (["metrics.json"] if "metrics.json" in good else [])  # metrics last: 'finished' comes with all
                for name in order:
                    if name not in good:
                        continue
                    data = good[name]
                    have = dest.read_bytes(name) if (dest.dir / name).exists() else None
                    if have == data or (name == "config.json" and have is not None):
                        continue
                    if have is not None:
                        if updated.get((key, name)) == _sha(have):
                            (src / "replaced" / key).mkdir(parents=True, exist_ok=True)
                            (src / "replaced" / key / name).write_bytes(have)
                            report["replaced"].append(f"{key}/{name}")
                        else:
                            (src / "conflicts" / key).mkdir(parents=True, exist_ok=True)
                            (src / "conflicts" / key / name).write_bytes(data)
                            report["conflicts"].append(f"{key}/{name}: differs from the book's; the book's kept")
                            continue
                    dest.dir.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(name, data)
                    report["added_files"] += 1
                if new_run:
                    report["added_runs"].append(key)
                problems, _ = Run(store_root / key, None).verify()
                report["damaged"] += [f"after bring-back: {p}" for p in problems]
    # the zoo
    import zoo_add
    from focusmim.store import zoo as zoo_mod

    for tarp in sorted(src.glob("zoo-*.tar")):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                with tarfile.open(tarp) as tar:
                    tar.extractall(tmp, filter="data")
            except (tarfile.TarError, OSError, EOFError) as exc:
                set_aside(tarp, f"unreadable archive ({exc})")
                continue
            for f in sorted(Path(tmp).glob("*.safetensors")):
                keep = src / "zoo-pending"
                try:
                    meta = zoo_mod.file_metadata(f)
                    have = {e["name"]: e for e in zoo_mod.manifest(zoo_dir)}
                    name = f.stem
                    total = sum(e["bytes"] for e in have.values()) + f.stat().st_size
                    if name in have and have[name]["run_key"] != meta["run_key"]:
                        raise zoo_mod.ZooError(f"the zoo has a model named {name} of another run "
                                               f"({have[name]['run_key']}); not replaced")
                    if name in have:
                        continue
                    if total > zoo_add.MAX_TOTAL_BYTES:
                        raise zoo_mod.ZooError(f"the zoo would hold {total:,} bytes; allowed: "
                                               f"{zoo_add.MAX_TOTAL_BYTES:,} (scripts/zoo_add.py)")
                    zoo_add.add(f, store_root, zoo_dir)
                    report["zoo"].append(name)
                except (zoo_mod.ZooError, SystemExit, ValueError, KeyError, OSError) as exc:
                    keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, keep / f.name)
                    report["zoo_left"].append(f"{f.name}: {exc} (kept in {keep})")
    # the logs: the capture check and the queue's log, where the book's benchmarks are
    dev = next((r.get("device") for r in log if r.get("device")), None)
    stamp = time.strftime("%Y-%m-%d")
    for name, dest_name in (("capture.json", f"step-capture-{stamp}.json"), ("queue.json", f"lease-queue-{stamp}.json")):
        p = src / name
        if p.exists():
            bench.mkdir(parents=True, exist_ok=True)
            dest = bench / dest_name
            n = 1
            while dest.exists() and dest.read_bytes() != p.read_bytes():
                n += 1
                dest = bench / dest_name.replace(".json", f"-{n}.json")
            shutil.copy2(p, dest)
            report["logs"].append(str(dest.relative_to(ROOT)) if dest.is_relative_to(ROOT) else str(dest))
    report["device"] = dev
    return report


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="imagenette")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    p.add_argument("--store", default=None, help="run store (default: $FOCUSMIM_RUNS or the book's)")
    p.add_argument("--book-store", default=str(ROOT / "results" / "store"),
                   help="the book's store, restored into --store before the queue: a folder (results/store) or "
                        "the archive --pack-tree made (.carry/book-store.tar.xz)")
    p.add_argument("--out", default=None, help="folder for store.tar.gz, zoo-*.tar, queue.json, capture.json")
    p.add_argument("--budget-s", type=float, default=480.0, help="seconds from now until the deadline")
    p.add_argument("--restore", default=None, help="an earlier lease's store.tar.gz to continue from")
    p.add_argument("--pack", default=None, help="the packed dataset (shown by --dry-run)")
    p.add_argument("--check-size", action="store_true", help="say what a lease sends and whether it fits; exit 1 if not")
    p.add_argument("--pack-tree", action="store_true",
                   help="pack the book's store into CARRY/book-store.tar.xz, hold zoo/'s weights and results/store in "
                        ".lease-hold/, check the size (over: the tree is put back, exit 1)")
    p.add_argument("--restore-tree", action="store_true", help="put back what --pack-tree held; exit 1 unless intact")
    p.add_argument("--root", default=str(ROOT), help="the checkout (--pack-tree, --restore-tree, --check-size)")
    p.add_argument("--carry", action="append", default=None,
                   help="a path the run call carries, relative to --root (default .carry; repeat for more)")
    p.add_argument("--zoo-on-machine", action="store_true", help="--dry-run: count the zoo's models as carried")
    p.add_argument("--compile-mode", default=None, help="skip the capture check's choice: this mode")
    p.add_argument("--field", action="append", default=[], help="extra Config field NAME=JSON (tests: tiny runs)")
    p.add_argument("--dry-run", action="store_true", help="print the queue, its GPU seconds and the leases; train nothing")
    p.add_argument("--bring-back", default=None, metavar="DIR",
                   help="put a lease's output (DIR: store.tar.gz, zoo-*.tar, queue.json, capture.json, SHA256SUMS) "
                        "into results/store, zoo/ and benchmarks/results, verified")
    p.add_argument("--zoo", default=None, help="with --bring-back: the zoo folder (default zoo/)")
    p.add_argument("--bench", default=None, help="with --bring-back: where the logs go (benchmarks/results)")
    a = p.parse_args(argv)
    root = Path(a.root).resolve()
    carry = tuple(a.carry or (".carry",))
    if a.restore_tree:
        text, ok = restore_held(root)
        print(text)
        return 0 if ok else 1
    if a.pack_tree:
        if (root / HOLD / "MANIFEST.json").exists():  # a second pack starts from the whole tree
            text, ok = restore_held(root)
            print(text)
            if not ok:
                return 1
        st = pack_store(root, root / carry[0] / BOOK_ARCHIVE)
        print(f"packed the book's store: {st['runs']} runs, {st['files']} files, {st['raw'] / 2**20:.1f} MiB -> "
              f"{carry[0]}/{BOOK_ARCHIVE} {st['packed'] / 2**20:.2f} MiB", flush=True)
        man = hold_tree(root)
        print(f"held {len(man['files'])} files ({sum(e['size'] for e in man['files']) / 2**20:.1f} MiB: zoo/'s "
              f"weights, results/store) in {root / HOLD} until scripts/device_queue.sh --restore-tree (or "
              f"--bring-back)", flush=True)
        text, ok = pack_report(root, carry)
        print(text)
        if not ok:
            print("the lease cannot be sent: the tree is put back")
            print(restore_held(root)[0])
            return 1
        return 0
    if a.check_size:
        text, ok = pack_report(root, carry)
        print(text)
        return 0 if ok else 1
    if a.bring_back:
        rep = bring_back(Path(a.bring_back), Path(a.store) if a.store else ROOT / "results" / "store",
                         Path(a.zoo) if a.zoo else ROOT / "zoo", Path(a.bench) if a.bench else ROOT / "benchmarks" / "results")
        print(f"brought back: {len(rep['added_runs'])} new runs, {rep['added_files']} files, "
              f"{len(rep['replaced'])} replaced (the book's versions kept in {a.bring_back}/replaced), "
              f"zoo: {rep['zoo'] or 'nothing new'}, logs: {rep['logs']}")
        for k in ("damaged", "conflicts", "zoo_left"):
            for line in rep[k]:
                print(f"{k}: {line}")
        return 1 if rep["damaged"] or rep["conflicts"] else 0
    deadline = time.time() + a.budget_s
    fields = {}
    for f in a.field:
        k, _, v = f.partition("=")
        fields[k] = json.loads(v)
    from focusmim.store.runs import default_root

    store_root = Path(a.store) if a.store else default_root()
    items = book_queue(a.preset, epochs=a.epochs, seeds=a.seeds, groups=tuple(a.groups), **fields)
    if a.dry_run:
        if a.store is None:  # what the lease starts from: the book's store (held here during a lease)
            book = Path(a.book_store)
            held = root / HOLD / "results" / "store"
            store_root = held if not any(book.glob("*/config.json")) and held.is_dir() else book
        print(describe(items, store_root, Path(a.pack) if a.pack else None, zoo_on_machine=a.zoo_on_machine))
        if a.pack:
            print(pack_report(root, carry)[0])
        return 0
    if a.out is None:
        p.error("--out is required unless --dry-run")
    store_root.mkdir(parents=True, exist_ok=True)
    book = Path(a.book_store) if a.book_store else None
    if book is not None and book.is_file():  # the book's store packed by --pack-tree (it travels in the carry)
        print(f"restored {restore(book, store_root)} files of the book's store from {book}", flush=True)
    elif book is not None and book.resolve() != store_root.resolve():
        print(f"restored {restore_tree(book, store_root)} files of the book's store {book}", flush=True)
    if a.restore and Path(a.restore).exists():
        print(f"restored {restore(Path(a.restore), store_root)} files from {a.restore}", flush=True)
    lease = Lease(store_root, Path(a.out), deadline, compile_mode=a.compile_mode)
    log = lease.run(items)
    done = sum(str(r.get("status", "")).startswith("done") for r in log)
    failed = sum(str(r.get("status", "")).startswith("failed") for r in log)
    print(f"queue: {done} done, {failed} failed, {len(log) - done - failed} skipped or resolved of {len(log)}",
          flush=True)
    return 1 if failed and not done else 0


if __name__ == "__main__":
    raise SystemExit(main())
