"""Time the main job (README command 1) from an empty run store and data cache, and record its table.

Runs ``python -m focusmim run --preset smoke`` as a new user would (a fresh store and cache in a
temporary folder), measures the wall time of the whole command, and adds one control the job itself
does not print: the same linear probe on an *untrained* encoder of the same shape (one per
pretraining seed), which says how much of the gap to raw pixels comes from the convolutional
architecture rather than from pretraining. Writes ``benchmarks/results/main-job-<preset>-<date>.json``.

    python benchmarks/bench_main_job.py                 # about 3 minutes on 2 free CPU cores
    python benchmarks/bench_main_job.py --no-control    # the job only
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def untrained_control(preset: str, seeds, probe_seeds) -> list[float]:
    """Linear-probe accuracy of freshly initialised encoders (``torch.manual_seed(seed)``), the main job's probe."""
    import torch

    from focusmim.config import make_config
    from focusmim.data import load_for_config
    from focusmim.models import build
    from focusmim.config.presets import main_job
    from focusmim.evaluation.probe import features, probe_features

    fields, _, _, probe = main_job(preset)
    cfg = make_config(preset, **fields)
    train, test = load_for_config(cfg, "train"), load_for_config(cfg, "test")
    out = []
    for s in seeds:
        torch.manual_seed(s)
        model = build(cfg.model, width=cfg.width).eval()
        res = probe_features(features(model.encode, train.images), train.labels, features(model.encode, test.images),
                             test.labels, probe_seeds, knn=False, **probe)
        out.append(res["accuracy_mean"])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="smoke")
    ap.add_argument("--no-control", action="store_true", help="skip the untrained-encoder control")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FOCUSMIM_RUNS": f"{tmp}/runs", "FOCUSMIM_CACHE": f"{tmp}/cache"}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "focusmim", "run", "--preset", args.preset, "--out", f"{tmp}/out"],
                              env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        print(proc.stdout)
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        saved = json.loads(Path(f"{tmp}/out/results.json").read_text())
        os.environ.update(FOCUSMIM_CACHE=f"{tmp}/cache")
        meta = saved["meta"]
        control = None
        if not args.no_control:
            accs = untrained_control(args.preset, meta["seeds"], meta["probe_seeds"])
            mean = sum(accs) / len(accs)
            control = {"condition": "untrained encoder (control)", "accuracies": accs, "accuracy_mean": mean}
            print(f"untrained encoder (same probe, init seeds {meta['seeds']}): "
                  + ", ".join(f"{100 * a:.1f}" for a in accs) + f" %; mean {100 * mean:.1f} %")
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    record = {"command": f"python -m focusmim run --preset {args.preset}", "wall_seconds": round(wall, 1),
              "job_seconds": meta.get("seconds"), "rows": saved["rows"], "control": control, "meta": meta,
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "load_average_after": load},
              "date": datetime.date.today().isoformat()}
    out = Path(args.out) if args.out else HERE / "results" / f"main-job-{args.preset}-{record['date']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, default=str))
    print(f"wall time {wall:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
