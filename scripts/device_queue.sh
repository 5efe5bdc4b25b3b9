#!/usr/bin/env bash
# A short, offline GPU lease, start to finish: install what the machine lacks from carried wheels, unpack the
# carried dataset, restore an earlier lease's store, train the book's missing runs most wanted first until a
# deadline (scripts/device_queue.py), writing every finished run into $OUT at once. Rerunnable: it continues.
#
# Here, once (packs ../shared/data/imagenette96 into .carry/, 48.5 MiB; one dataset a lease):
#   bash scripts/device_queue.sh --pack imagenette96
#   python scripts/device_queue.py --preset imagenette --dry-run --pack .carry/imagenette96.tar.xz
# On the GPU machine (carry .carry, and .whl if you packed wheels), within a 10-minute command:
#   BUDGET=540 bash scripts/device_queue.sh --preset imagenette
# Back here: the runs into the book's store, the zoo's files into zoo/ (scripts/zoo_add.py).
set -u
CARRY=${CARRY:-.carry}       # what travels with the repository (ignored by git)
FM_TMP=${FM_TMP:-/tmp}       # where the data, cache and run store go on the machine
if [ "${1:-}" = "--pack" ]; then
  name=${2:-imagenette96}
  src=$(cd "$(dirname "$0")/.." && pwd)/../shared/data/$name
  [ -d "${FOCUSMIM_DATA:-/nonexistent}/$name" ] && src=$FOCUSMIM_DATA/$name
  [ -d "$src" ] || { echo "no dataset folder $src (set FOCUSMIM_DATA to its parent)" >&2; exit 2; }
  mkdir -p "$CARRY" && tar cf - -C "$(dirname "$src")" "$name" | xz -9e -T0 > "$CARRY/$name.tar.xz.tmp" \
    && mv "$CARRY/$name.tar.xz.tmp" "$CARRY/$name.tar.xz"
  ls -l "$CARRY/$name.tar.xz"; exit 0
fi
t0=$(date +%s)
BUDGET=${BUDGET:-540}        # seconds this command may take in all
OUT=${OUT:-$FM_TMP/fmout}
export FOCUSMIM_DATA=$FM_TMP/fmdata FOCUSMIM_CACHE=$FM_TMP/fmcache FOCUSMIM_RUNS=$FM_TMP/fmruns
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg TQDM_DISABLE=1
export PYTHONPATH=$PWD:$FM_TMP/site:${PYTHONPATH:-}
if compgen -G ".whl/*.whl" >/dev/null && [ ! -f "$FM_TMP/site/.done" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$FM_TMP/site" .whl/*.whl \
    && touch "$FM_TMP/site/.done"
fi
mkdir -p "$FOCUSMIM_DATA" "$FOCUSMIM_RUNS" "$OUT"
for f in "$CARRY"/*.tar.xz; do
  [ -e "$f" ] || continue
  d=$(basename "$f" .tar.xz)
  [ -d "$FOCUSMIM_DATA/$d" ] || tar xJf "$f" -C "$FOCUSMIM_DATA"
done
restore=()
[ -f "$CARRY/store.tar.gz" ] && restore=(--restore "$CARRY/store.tar.gz")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
left=$(( BUDGET - ($(date +%s) - t0) - 25 ))   # 25 s for the last write-out
echo "setup took $(( $(date +%s) - t0 )) s; queue budget ${left} s"
python3 "$(dirname "$0")/device_queue.py" --store "$FOCUSMIM_RUNS" --out "$OUT" --budget-s "$left" "${restore[@]}" "$@"
rc=$?
ls -la "$OUT"
exit $rc
