"""Wall time of `python -m focusmim run --preset P --dry-run`, per preset.

Each preset's dry run is started as a new process (as a user types it), first with an
empty timing cache (``$FOCUSMIM_CACHE`` pointed at a fresh folder: the plan times its
training steps) and then again with that cache filled. The target (issue 29): every
preset's cold dry run within 20 s on 2 CPU cores. The plan's estimate line is kept with
each time. Nothing is trained; the run store is only read.

Usage:
    python benchmarks/bench_dry_run.py [--presets smoke cpu gpu paper] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 20.0


def dry_run(preset: str, cache: Path) -> dict:
    env = {**os.environ, "FOCUSMIM_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "focusmim", "run", "--preset", preset, "--dry-run"], cwd=REPO,
                         env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = (out.stdout + out.stderr).splitlines()
    return {"seconds": round(wall, 2), "rc": out.returncode,
            "estimate": next((ln.strip() for ln in lines if ln.strip().startswith("estimate:")), None),
            "data": next((ln.strip() for ln in lines if ln.strip().startswith("data:")), None)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["smoke", "cpu", "gpu", "paper"])
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = []
    for preset in args.presets:
        with tempfile.TemporaryDirectory() as tmp:
            cold = dry_run(preset, Path(tmp))
            warm = dry_run(preset, Path(tmp))
        row = {"preset": preset, "cold_s": cold["seconds"], "warm_s": warm["seconds"], "rc": cold["rc"],
               "within_target": cold["seconds"] <= TARGET_S, "estimate": cold["estimate"], "data": cold["data"]}
        rows.append(row)
        print(f"{preset:6s} cold {cold['seconds']:6.1f} s, cached {warm['seconds']:5.1f} s (rc {cold['rc']}): "
              f"{cold['estimate']}", flush=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    result = {"command": "python -m focusmim run --preset P --dry-run", "target_s": TARGET_S, "rows": rows,
              "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
              "load_average_after": load, "date": time.strftime("%Y-%m-%d %H:%M")}
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / f"dry-run-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
