"""Put exported models into the zoo (zoo/ and zoo/manifest.json) with what their runs recorded.

Each file was written by :func:`focusmim.store.zoo.export` (fp16 safetensors whose metadata names its run key and
config). This finds that run in the run store and writes the file's manifest entry: the run's budget and
final loss (its metrics.json), its data fingerprint, and the linear-probe accuracy of its ``best`` weights
(the run's cached ``probe-*.json`` whose ``which`` is ``best``; with several, the one with the most probe
seeds). It also writes the run's training log ``metrics.csv`` when the run has none (runs trained before the
log existed), so that the models and their logs travel together. Entries of the same name are replaced; the
files are checked against their limits (4 MiB each, 40 MB in all) and the manifest afterwards.

    python scripts/zoo_add.py /path/to/exported/*.safetensors                   # into zoo/, from results/store
    python scripts/zoo_add.py --check                                           # only check zoo/ as it is
"""
import argparse
import json
import sys
from pathlib import Path

from focusmim.store import zoo
from focusmim.config import Config
from focusmim.store.runs import Run, metrics_csv

ROOT = Path(__file__).resolve().parent.parent
MAX_TOTAL_BYTES = 40_000_000  # the whole zoo in the repository


def store_run(store: Path, key: str) -> Run:
    """The finished run ``key`` of the store at ``store`` (its folder named by the key)."""
    d = store / key
    if not (d / "config.json").is_file():
        raise SystemExit(f"error: run {key} is not in the store {store}; allowed: a store holding the exported run "
                         f"(--store)")
    run = Run(d, Config.from_dict(Run(d, None).load_json("config.json")))
    if not run.finished:
        raise SystemExit(f"error: run {d} has not finished; allowed: a finished run's export")
    return run


def best_probe(run: Run) -> dict:
    """The run's cached linear probe of its ``best`` weights (the most probe seeds first)."""
    probes = [run.load_json(p.name) for p in sorted(run.dir.glob("probe-*.json"))]
    probes = [p for p in probes if isinstance(p, dict) and p.get("which") == "best" and "accuracy_mean" in p]
    if not probes:
        raise SystemExit(f"error: run {run.dir} has no cached probe of its best weights (probe-*.json with which "
                         f"'best'); run focusmim.evaluation.probe.evaluate(run) where its weights are, then add it again")
    return max(probes, key=lambda p: len(p.get("seeds") or ()))


def shown(path: Path) -> str:
    """``path`` relative to the repository when under it (as the manifest records it), else as it is."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def add(path: Path, store: Path, folder: Path) -> dict:
    key = zoo.file_metadata(path)["run_key"]
    run = store_run(store, key)
    if run.read_bytes("metrics.csv") is None:  # a run trained before the log existed: write it from its metrics
        run.write_bytes("metrics.csv", metrics_csv(run.metrics).encode())
    probe = best_probe(run)
    return zoo.add(path, folder, run=run, accuracy=probe["accuracy_mean"], accuracy_std=probe.get("accuracy_std"),
                   knn_accuracy=probe.get("knn_accuracy"),
                   probe={k: probe.get(k) for k in ("which", "seeds", "n_train", "n_test", "dim", "device")},
                   training_log=shown(run.dir / "metrics.csv"))


def check(folder: Path) -> list[str]:
    problems = zoo.check(folder)
    total = sum(e["bytes"] for e in zoo.manifest(folder))
    if total > MAX_TOTAL_BYTES:
        problems.append(f"the zoo at {folder} holds {total:,} bytes; allowed: at most {MAX_TOTAL_BYTES:,}")
    return problems


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="*", type=Path, help="exported .safetensors files (focusmim.store.zoo.export)")
    p.add_argument("--store", type=Path, default=ROOT / "results" / "store",
                   help="the run store holding their runs (default: results/store)")
    p.add_argument("--zoo", type=Path, default=None, help="the zoo folder (default: $FOCUSMIM_ZOO, else zoo/)")
    p.add_argument("--check", action="store_true", help="add nothing; check the zoo's files against its manifest")
    args = p.parse_args(argv)
    folder = zoo.zoo_dir(args.zoo)
    if not args.files and not args.check:
        p.error("no files given; allowed: exported .safetensors files, or --check")
    for f in args.files:
        try:
            e = add(f, args.store, folder)
        except zoo.ZooError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{e['name']}: run {e['run_key']}, {e['bytes'] / 1e6:.2f} MB, "
              f"probe accuracy {100 * e['accuracy']:.1f} %, "
              f"final loss {e['final_loss']:.5f}", flush=True)
    problems = check(folder)
    for line in problems:
        print(f"problem: {line}", file=sys.stderr)
    table = zoo.pretrained(folder)
    print(table.drop(columns=["run_key"]).to_string(index=False))
    print(f"{len(table)} models, {sum(e['bytes'] for e in zoo.manifest(folder)) / 1e6:.1f} MB in {folder}"
          f"{'' if not problems else f'; {len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
