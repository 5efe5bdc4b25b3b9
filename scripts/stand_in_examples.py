"""Chapter 1's reconstruction examples for runs whose weights were not kept, drawn by stand-ins.

The book's store keeps no weights, and chapter 1's gpu-preset runs were trained on a borrowed
GPU whose checkpoints are gone; their cached examples were the test split's first images (all
airplanes). This retrains the first pretraining seed of every strategy (the very configs, same
keys) into a scratch store, then caches each run's examples, one test image per class, drawn by
its retrain: the run's numbers stay those of the original run, and the figure's title says,
from the cached record, that a retrain on which device drew its images and how close its final
training loss came (:meth:`focusmim.runs.Run.load_model_or_stand_in`). Already finished
retrains in the scratch store are reused.

    python scripts/stand_in_examples.py --scratch /tmp/stand-ins --data-root ../shared/data/cifar10
    scripts/run_book_cpu.sh 01_masking_strategy                         # re-render the chapter from the store
"""
import argparse
import json
import time
from pathlib import Path

from focusmim.chapters import ch01_masking_strategy as ch01
from focusmim.config import Config
from focusmim.runs import RunStore
from focusmim.train import pretrain

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--scratch", required=True, help="a run store for the retrains (weights included; not the book's)")
p.add_argument("--store", default="results/store", help="the book's run store (default: results/store)")
p.add_argument("--preset", default="gpu", help="whose chapter-1 table names the runs (default: gpu)")
p.add_argument("--data-root", default=None, help="where CIFAR-10 is here, when not where the runs were trained "
               "(the runs' configs name that machine's folder; where data lies is not part of a run's key)")
p.add_argument("--table", default=None, help="the table JSON (default: results/<preset>/01_masking_strategy.json)")
p.add_argument("--no-train", action="store_true", help="only the runs whose retrain in --scratch has finished")
args = p.parse_args()

table = Path(args.table or f"results/{args.preset}/01_masking_strategy.json")
if not table.is_file():
    p.error(f"--table {table} does not exist; allowed: a chapter-1 table JSON under results/<preset>/")
book, scratch = RunStore(args.store), RunStore(args.scratch)
if book.root.resolve() == scratch.root.resolve():
    p.error("--scratch is the book's store; allowed: another folder (the retrains keep their weights there)")
keys = [r["run_keys"][0] for r in json.loads(table.read_text())["rows"] if r.get("run_keys")]
for key in keys:
    cfg = Config.from_dict(json.loads((book.root / key / "config.json").read_text()))
    run = book.open(cfg if args.data_root is None else cfg.replace(data_root=args.data_root))
    if run.dir.name != key or not run.finished:
        raise SystemExit(f"{book.root / key}: not a finished run of its own config; allowed: the table's runs")
    t0 = time.time()
    if args.no_train:
        twin = scratch.get(run.config)
        if twin is None or not twin.finished:
            print(f"{key} {run.config.masker}: no finished retrain in {scratch.root}, skipped", flush=True)
            continue
    else:
        twin = pretrain(run.config, scratch, progress=True)
    got = ch01.reconstructions(run, ch01.reconstruction_images(run.config), stand_in=twin)
    w = got.get("weights") or {}
    print(f"{key} {run.config.masker}: retrain {twin.outcome or 'finished before'} in {time.time() - t0:.0f} s, "
          f"final loss {w.get('final_loss')} (the run's: {w.get('shown_final_loss')})", flush=True)
