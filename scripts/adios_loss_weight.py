"""ADIOS with reconstruction: does it matter that the soft mask also weights the error?

Chapter 7's ADIOS-MIM condition trains its mask network against a loss that the mask itself weights
(``loss_weight="mask"``, the default), so the adversary also chooses where the error counts. This script
trains the same condition with the two alternatives of :mod:`focusmim.training.adios` (``"detached"``: the same loss,
the mask network's gradient only through what it hides; ``"image"``: every pixel counts) at chapter 7's
budget, probes all three on their final weights, and saves the table as chapter 7's ``loss_weight`` table
(published into ``results/<preset>/07_learned_masks-loss_weight.json`` by ``python -m focusmim publish``).

    FOCUSMIM_RUNS=results/store python scripts/adios_loss_weight.py --preset cpu --seeds 0
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from focusmim.chapters.ch07_learned_masks import ADIOS_CONDITIONS, CHAPTER_DEFAULTS, conditions, snapshot_epochs  # noqa: E402
from focusmim.experiments import compare  # noqa: E402
from focusmim.book.notebook import setup  # noqa: E402
from focusmim.config.schemas import LOSS_WEIGHTS  # noqa: E402


def variants(nb) -> dict:
    """Chapter 7's ADIOS-MIM condition once per ``loss_weight`` (the default keeps the chapter's run key)."""
    d = CHAPTER_DEFAULTS[nb.preset]
    conds = conditions(d["n_masks"], d["single"], snapshot_epochs(nb.base.epochs, d["n_snapshots"]), d["mask_width"])
    base = conds[ADIOS_CONDITIONS[0]]
    out = {}
    for w in LOSS_WEIGHTS:
        op = dict(base["objective_params"])
        if w != LOSS_WEIGHTS[0]:
            op["loss_weight"] = w
        out[f"ADIOS masks, reconstruction, loss weight {w!r}"] = dict(base, objective_params=op)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    a = p.parse_args(argv)
    nb = setup("07_learned_masks", preset=a.preset, seeds=a.seeds, plan=False)
    conds = variants(nb)
    table = compare(nb.base, conds, seeds=nb.seeds, probe_seeds=nb.probe_seeds, which=nb.base.epochs,
                    title="ADIOS with reconstruction: what weights the error (final weights)")
    table.meta["which"] = f"epoch {nb.base.epochs} (final)"
    print(table.to_markdown(["condition", "accuracy", "knn", "final_loss"]))
    print("saved", nb.save(table, "loss_weight"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
