"""Checks on the embedded synthetic images at a CPU budget, against raw pixels.

Default: does a trained encoder beat raw pixels? Pretrains the paper's autoencoder with random
patches (and, with --autoencoder, without masks). With --object-loss: chapter 4's question with
exact object masks, random patches and the masked periphery each with the loss on everything
and on the object only. Either way on the synthetic set at 32 px for --epochs epochs, probed
linearly over several seeds next to the raw-pixel baseline; the table is printed and stored
in the run store's tables/<preset>/<name>.json (synthetic_check, or synthetic-04_object_loss);
`python -m focusmim publish <preset>` copies it into the book's results/<preset>/.

    python scripts/synthetic_check.py --epochs 20 --autoencoder      # about 10 minutes on 2 CPU cores
    python scripts/synthetic_check.py --object-loss --epochs 12 --cpu-amp   # about 12 minutes

Batches of 32 (not the cpu preset's 256): at a CPU budget the number of optimiser steps is what
limits the encoder (8 epochs of 5,000 images: 41.7 % at batch 32, 37.7 % at 64, 29.3 % at 256, on
version 2 of the images while raw pixels give 36.1 %, with an earlier tuning of the generator).
"""
import argparse
import time

from focusmim.chapters.ch04_object_loss import conditions as object_loss_conditions
from focusmim.config import make_config
from focusmim.experiments import compare

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--preset", default="cpu")
p.add_argument("--epochs", type=int, default=None, help="pretraining epochs (default 30; 12 with --object-loss)")
p.add_argument("--n-unlabeled", type=int, default=5000)
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--probe-seeds", type=int, nargs="+", default=[0, 1, 2])
p.add_argument("--autoencoder", action="store_true", help="also the plain autoencoder")
p.add_argument("--object-loss", action="store_true",
               help="chapter 4's conditions with the synthetic ground-truth maps instead")
p.add_argument("--cpu-amp", action="store_true", help="bf16 autocast + channels_last on the CPU (Config.cpu_amp)")
p.add_argument("--name", default=None,
               help="table name under <run store>/tables/<preset>/ (default synthetic_check, or synthetic-04_object_loss)")
args = p.parse_args()
epochs = args.epochs or (12 if args.object_loss else 30)
base = make_config(args.preset, dataset="synthetic", epochs=epochs, n_unlabeled=args.n_unlabeled,
                   batch_size=args.batch_size, cpu_amp=args.cpu_amp)
if args.object_loss:
    conds, name = object_loss_conditions("gt"), "synthetic-04_object_loss"
    title = f"synthetic images, exact object masks: loss on everything vs on the object ({epochs} epochs)"
else:
    conds, name = {"random patches": dict(masker="random_patches")}, "synthetic_check"
    if args.autoencoder:
        conds["plain autoencoder"] = dict(masker="none")
    title = f"synthetic images: trained encoder vs raw pixels ({epochs} epochs{', bf16' if args.cpu_amp else ''})"
t0 = time.perf_counter()
table = compare(base, conds, seeds=(0,), probe_seeds=tuple(args.probe_seeds), raw_pixels=True, title=title)
table.meta.update(seconds=time.perf_counter() - t0, config=base.describe())
print(table.to_markdown(["condition", "accuracy", "knn", "wall_time_s"]))
print(f"saved {table.save(f'{args.preset}/{args.name or name}')}")
