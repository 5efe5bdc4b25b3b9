"""Chapter 1 with the paper's learning-rate procedure at one preset's budget, both variants published.

Trains each of chapter 1's main strategies at 5e-5 / 1e-4 / 5e-4 (first pretraining seed), selects each rate
on the linear probe's validation accuracy (:mod:`focusmim.experiments.lr_selection`; the blurred variants take their
parent's), trains the remaining seeds at the selected rates, and saves three tables under the run store's
``tables/<preset>/`` and publishes them into the book's ``results/<preset>/``:

* ``01_masking_strategy-lr_selection``: every (strategy, rate) with validation and test accuracy, and the winner;
* ``01_masking_strategy``: the paper's fixed rates (1e-4 for the periphery family, 5e-4 for the rest);
* ``01_masking_strategy-selected``: the rates selected at this budget.

Usage (the book's CPU tier: CIFAR-10, 32 px, 5,000 images, 6 epochs; about an hour on 2 cores):
    FOCUSMIM_RUNS=results/store python scripts/lr_selection.py --preset cpu --workers 2
    python scripts/lr_selection.py --preset cpu --plan      # what would be trained, nothing is
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from focusmim.chapters.ch01_masking_strategy import NAME, STRATEGIES  # noqa: E402
from focusmim.config import make_config  # noqa: E402
from focusmim.experiments import provenance, publish, training_budget  # noqa: E402
from focusmim.experiments.lr_selection import LR_CANDIDATES, chapter_variants, selection_conditions, weightless_stale  # noqa: E402
from focusmim.config.presets import NOTEBOOK_DEFAULTS  # noqa: E402
from focusmim.store.runs import RunStore  # noqa: E402

TABLES = {"selection": f"{NAME}-lr_selection", "paper": NAME, "selected": f"{NAME}-selected"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="cpu", choices=sorted(NOTEBOOK_DEFAULTS))
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="pretraining seeds (preset's by default)")
    ap.add_argument("--probe-seeds", type=int, nargs="+", default=None)
    ap.add_argument("--paper-seeds", type=int, nargs="+", default=None,
                    help="pretraining seeds of the fixed-rate table (default: --seeds); the selected rates train first")
    ap.add_argument("--rates", type=float, nargs="+", default=list(LR_CANDIDATES))
    ap.add_argument("--workers", type=int, default=1, help="processes training at once (2 on 2 CPU cores)")
    ap.add_argument("--store", default=None, help="run store (default $FOCUSMIM_RUNS)")
    ap.add_argument("--plan", action="store_true", help="list the runs to train and stop")
    ap.add_argument("--no-publish", action="store_true", help="save the tables, do not copy them into results/")
    a = ap.parse_args(argv)
    nd = NOTEBOOK_DEFAULTS[a.preset]
    seeds = tuple(a.seeds if a.seeds is not None else nd["seeds"])
    probe_seeds = tuple(a.probe_seeds if a.probe_seeds is not None else nd["probe_seeds"])
    base = make_config(a.preset)
    store = RunStore(a.store)
    first = [base.replace(seed=seeds[0], **o) for o in selection_conditions(STRATEGIES, a.rates).values()]
    paper = [base.replace(seed=s, lr=None, **o) for o in STRATEGIES.values()
             for s in (a.paper_seeds if a.paper_seeds is not None else seeds)]  # the paper's rates
    todo = [c for c in {c.key(): c for c in first + paper}.values() if store.get(c) is None]
    stale = weightless_stale(store, first, probe_seeds)
    print(f"{a.preset}: {base.dataset} {base.image_size} px, {base.n_unlabeled or 'all'} images, {base.epochs} "
          f"epochs; seeds {list(seeds)}, probe seeds {list(probe_seeds)}, rates {a.rates}")
    print(f"{len(todo)} runs to train before the selection (+ up to {2 * len(STRATEGIES) * (len(seeds) - 1)} after "
          f"it, where a selected rate is not the paper's); {len(stale)} stored runs without weights or a "
          f"validation-recording probe, trained again: {[store.path(c).name for c in stale]}")
    if a.plan:
        return 0
    for c in stale:  # their config and metrics are rewritten by the same training; the old files are in git
        run = store.get(c)
        for f in sorted(run.dir.iterdir()):
            f.unlink()
        run.dir.rmdir()
    t0 = time.perf_counter()
    paper_seeds = tuple(a.paper_seeds if a.paper_seeds is not None else seeds)
    tables = chapter_variants(base, STRATEGIES, seeds=seeds, probe_seeds=probe_seeds, rates=a.rates, store=store,
                              workers=a.workers, paper_seeds=paper_seeds)
    for key, table in tables.items():
        table.meta.update(provenance(base, seeds=paper_seeds if key == "paper" else seeds, probe_seeds=probe_seeds))
        table.meta.update(training_budget(table.rows), wall_time_s=time.perf_counter() - t0)
        print(f"saved {table.save(f'{a.preset}/{TABLES[key]}')}")
    sel = tables["selection"]
    for r in sel.rows:
        print(f"  {r['strategy']:<20} lr {r['lr']:<8g} val {100 * r['val_accuracy']:.1f} %  test "
              f"{100 * r['accuracy_mean']:.1f} %{'  <- selected' if r['selected'] else ''}")
    if not a.no_publish:
        for _, target, changed in publish([a.preset]):
            if changed:
                print(f"published {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
