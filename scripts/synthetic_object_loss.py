"""Chapter 4's question with exact object masks: does restricting the loss to the object hurt?

Pretrains random patches and the masked periphery on the synthetic images (ground-truth
foreground maps) with the loss on everything and on the object only, probes each over
three seeds next to raw pixels, prints the table and stores it under
results/<preset>/synthetic-04_object_loss.json.

    python scripts/synthetic_object_loss.py --epochs 12     # about 12 minutes on 2 CPU cores
"""
import argparse
import time

from focusmim.chapters.ch04_object_loss import conditions
from focusmim.config import make_config
from focusmim.experiments import compare

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--preset", default="cpu")
p.add_argument("--epochs", type=int, default=12)
p.add_argument("--n-unlabeled", type=int, default=5000)
p.add_argument("--batch-size", type=int, default=32, help="32: enough optimiser steps at a CPU budget")
p.add_argument("--probe-seeds", type=int, nargs="+", default=[0, 1, 2])
p.add_argument("--cpu-amp", action="store_true", help="bf16 autocast + channels_last on the CPU")
args = p.parse_args()
base = make_config(args.preset, dataset="synthetic", epochs=args.epochs, n_unlabeled=args.n_unlabeled,
                   batch_size=args.batch_size, cpu_amp=args.cpu_amp)
t0 = time.perf_counter()
table = compare(base, conditions("gt"), seeds=(0,), probe_seeds=tuple(args.probe_seeds), raw_pixels=True,
                title=f"synthetic images, exact object masks: loss on everything vs on the object ({args.epochs} epochs)")
table.meta.update(seconds=time.perf_counter() - t0, config=base.describe())
print(table.to_markdown(["condition", "accuracy", "knn", "wall_time_s"]))
print(f"saved {table.save(f'{args.preset}/synthetic-04_object_loss')}")
