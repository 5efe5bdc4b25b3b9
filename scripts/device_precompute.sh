#!/usr/bin/env bash
# On a GPU machine: run chapters' experiments into a run store on local disk, within a time budget,
# and pack the store without weights (configs, metrics, cached evaluations) into $OUT/store.tar.gz.
# Runs are resumable, and finished ones are reused, so calling this again continues where it stopped,
# on the same machine or (from a carried .carry/store.tar.gz) on a fresh one.
#   BUDGET=520 bash scripts/device_precompute.sh --preset gpu 01_masking_strategy 03_augmentation
. scripts/device_setup.sh
mkdir -p "$FOCUSMIM_RUNS"
if [ -f .carry/store.tar.gz ] && [ ! -f "$FOCUSMIM_RUNS/.restored" ]; then
  tar xzf .carry/store.tar.gz -C "$FOCUSMIM_RUNS" && touch "$FOCUSMIM_RUNS/.restored"
fi
timeout "${BUDGET:-520}" python3 -m focusmim precompute "$@" 2>&1 | grep -v -i "warn"
echo "precompute exit: ${PIPESTATUS[0]}"
python3 - <<'PY'
import json, os, pathlib
root = pathlib.Path(os.environ["FOCUSMIM_RUNS"])
for d in sorted(root.iterdir()):
    m = d / "metrics.json"
    if m.exists():
        j = json.loads(m.read_text()); c = json.loads((d / "config.json").read_text())
        print(d.name, c["masker"], c.get("crop"), c.get("ratio"), c["seed"], "done" if j.get("finished") else "partial",
              j.get("epochs_done"), round(sum(j.get("epoch_time", [])), 1))
PY
(cd "$FOCUSMIM_RUNS" && tar czf "$OUT/store.tar.gz" --exclude='*.pt' --exclude='.restored' .)
ls -la "$OUT"
