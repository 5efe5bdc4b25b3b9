"""Chapter 1's readout table: the zoo's six strategy models (first pretraining seed) plus raw pixels under
every readout (focusmim.evaluation.readouts.READOUTS), published as results/<preset>/01_masking_strategy-readouts.json.

Each model's features are extracted once; every readout is cached in its run's folder of the book's store
(results/store/<key>/probe-<hash>.json; the paper's linear probe is the store's own cached probe), so a second
call only rebuilds the table.

    python scripts/readouts.py                        # imagenette, probe seeds 0-4, all readouts, publish
    python scripts/readouts.py --readouts knn --no-publish
"""
import argparse
import tempfile

import torch

from focusmim.chapters.ch01_readouts import TABLE, readout_claims, readout_table, readout_text, rankings, zoo_runs
from focusmim.experiments import publish
from focusmim.evaluation.readouts import READOUTS, check_readout


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="imagenette", help="the results folder (and the zoo's dataset)")
    ap.add_argument("--probe-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--readouts", nargs="+", default=list(READOUTS))
    ap.add_argument("--device", default=None)
    ap.add_argument("--features", default=None, help="a folder to keep each model's features in (extracted once)")
    ap.add_argument("--no-publish", action="store_true", help="print the table only")
    a = ap.parse_args(argv)
    try:
        readouts = [check_readout(r) for r in a.readouts]
    except ValueError as exc:
        raise SystemExit(f"error: --readouts: {exc}") from None
    runs = zoo_runs(dataset=a.preset)
    if not runs:
        raise SystemExit(f"error: the zoo has no chapter-1 model on {a.preset!r}; allowed: imagenette")
    table = readout_table({c: [r] for c, r in runs.items()}, a.probe_seeds, readouts, device=a.device,
                          progress=lambda s: print(s, flush=True), feature_dir=a.features)
    table.meta.update(preset=a.preset, script="scripts/readouts.py", torch_threads=torch.get_num_threads(),
                      claims=readout_claims(table).rows, rankings=rankings(table))
    print(table.to_markdown(["condition", "readout", "accuracy"]))
    print(readout_text(table))
    if not a.no_publish:
        with tempfile.TemporaryDirectory() as tmp:  # only this table, through the book's one way in
            table.save(f"{a.preset}/{TABLE}", root=tmp)
            for _, target, changed in publish([a.preset], src=tmp):
                print(f"{'wrote' if changed else 'unchanged'} {target}")


if __name__ == "__main__":
    main()
