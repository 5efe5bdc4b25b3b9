#!/usr/bin/env bash
# A short, offline GPU lease, start to finish (book/how_to_run.md, "A short GPU lease"). Everything a lease's call
# sends (tracked files on disk + untracked files git does not ignore + the carried paths) must fit 64 MiB.
#
#   1. here:              bash scripts/device_queue.sh --pack imagenette96
#      packs ../shared/data/imagenette96 into .carry/imagenette96.tar.xz (48.5 MiB; JPEG bytes are part of every
#      run key, so they stay as they are; packed again only when the folder changed), copies u2netp's weights
#      (4.4 MiB, for the maps of chapters 4, 5 and 7; NO_U2NET=1 leaves them out), packs the book's store into
#      .carry/book-store.tar.xz (12.4 MiB of JSON -> about 1.6 MiB), MOVES zoo/*.safetensors (22.9 MiB) and
#      results/store's files into .lease-hold/ (ignored; a manifest with every sha256; nothing is deleted), and
#      prints exactly what the lease sends against 64 MiB (measured 2026-12-06: 59.0 MiB = tree 4.5 + data 48.5 +
#      u2netp 4.4 + store 1.6, 5.0 to spare); over: it puts the tree back and exits 1. While held, `git status` shows zoo/ and results/store as
#      deleted: commit nothing then. See the queue first (it counts the zoo as not on the machine):
#        python scripts/device_queue.py --preset imagenette --dry-run --pack .carry/imagenette96.tar.xz
#   2. the lease: run(carry [".carry"], command below), one command of at most 10 minutes, as often as it allows:
#        BUDGET=540 bash scripts/device_queue.sh --preset imagenette
#      installs carried wheels (.whl, if you carry it too), unpacks the data, restores the book's store from
#      .carry/book-store.tar.xz (and an earlier lease's .carry/store.tar.gz), then works through the whole book's
#      queue (scripts/device_queue.py: the capture check, the learning-rate selection, the 100-epoch comparison,
#      chapters 2-7, the readouts; the zoo is not there, so an item that needs a stored run's weights retrains
#      it), writing store.tar.gz, zoo-<n>.tar, queue.json, capture.json and SHA256SUMS into $OUT after every
#      finished item. Rerunnable: it continues (a run already stored is never trained again).
#   3. back here, ONE command: first the tree is put back (as --restore-tree), then the runs go into
#      results/store, the models into zoo/ (scripts/zoo_add.py), the capture check and the log into
#      benchmarks/results, every file verified (SHA256SUMS, the store's manifest); a damaged file is named and set
#      aside, nothing already stored is lost:
#        bash scripts/device_queue.sh --bring-back DIR        # DIR: the folder the lease's $OUT came back to
#   4. no lease after all (or it failed): put the tree back; it checks every sha256 and `git status`:
#        bash scripts/device_queue.sh --restore-tree
#      If this session's checkout is lost mid-lease, the held files are still in git: git checkout -- zoo results/store
#      (untracked runs that were never committed are only in .lease-hold/).
set -u
CARRY=${CARRY:-.carry}       # what travels with the repository (ignored by git)
FM_TMP=${FM_TMP:-/tmp}       # where the data, cache and run store go on the machine
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=${LEASE_ROOT:-$(cd "$HERE/.." && pwd)}   # the checkout that is packed, held and restored (tests: a copy)
if [ "${1:-}" = "--restore-tree" ]; then
  exec python3 "$HERE/device_queue.py" --root "$REPO" --restore-tree
fi
if [ "${1:-}" = "--bring-back" ]; then
  shift
  # the tree first: bring-back writes into results/store and zoo/, which must be whole again
  python3 "$HERE/device_queue.py" --root "$REPO" --restore-tree || {
    echo "the tree is not intact (above); nothing brought back yet" >&2; exit 1; }
  exec python3 "$HERE/device_queue.py" --bring-back "$@"
fi
if [ "${1:-}" = "--pack" ]; then
  name=${2:-imagenette96}
  case $CARRY in /*) ;; *) CARRY=$REPO/$CARRY ;; esac
  src=$REPO/../shared/data/$name
  [ -d "${FOCUSMIM_DATA:-/nonexistent}/$name" ] && src=$FOCUSMIM_DATA/$name
  [ -d "$src" ] || { echo "no dataset folder $src (set FOCUSMIM_DATA to its parent)" >&2; exit 2; }
  mkdir -p "$CARRY"
  # the data: JPEG bytes as they are (part of every run key); packed again only when the folder changed
  if [ -f "$CARRY/$name.tar.xz" ] && [ -z "$(find -L "$src" -newer "$CARRY/$name.tar.xz" -print -quit)" ]; then
    echo "data pack is up to date:"
  else
    tar cf - -C "$(dirname "$src")" "$name" | xz -9e -T0 > "$CARRY/$name.tar.xz.tmp" \
      && mv "$CARRY/$name.tar.xz.tmp" "$CARRY/$name.tar.xz" || exit 2
  fi
  ls -l "$CARRY/$name.tar.xz"
  # u2netp's weights (chapters 4, 5 and 7 make their foreground maps on the machine), when found here
  if [ -z "${NO_U2NET:-}" ]; then
    u2=$(python3 -c "from focusmim.data.foreground import weights_path; print(weights_path())" 2>/dev/null)
    if [ -n "$u2" ] && [ -f "$u2" ]; then
      mkdir -p "$CARRY/u2net" && cp "$u2" "$CARRY/u2net/u2netp.onnx" && ls -l "$CARRY/u2net/u2netp.onnx"
    fi
  elif [ -e "$CARRY/u2net" ]; then   # moved aside, not deleted: a later pack without NO_U2NET copies it again
    mkdir -p "$REPO/.lease-hold" && rm -rf "$REPO/.lease-hold/u2net" && mv "$CARRY/u2net" "$REPO/.lease-hold/u2net"
  fi
  [ -n "${NO_SIZE_CHECK:-}" ] && exit 0   # the data alone (tests)
  carry=(--carry "${CARRY#$REPO/}")
  [ -d "$REPO/.whl" ] && carry+=(--carry .whl)
  # the book's store into $CARRY/book-store.tar.xz; zoo/'s weights and results/store into .lease-hold/; the size
  python3 "$HERE/device_queue.py" --root "$REPO" --pack-tree "${carry[@]}"
  exit $?
fi
t0=$(date +%s)
BUDGET=${BUDGET:-540}        # seconds this command may take in all
OUT=${OUT:-$FM_TMP/fmout}
export FOCUSMIM_DATA=$FM_TMP/fmdata FOCUSMIM_CACHE=$FM_TMP/fmcache FOCUSMIM_RUNS=$FM_TMP/fmruns
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg TQDM_DISABLE=1
export PYTHONPATH=$PWD:$FM_TMP/site:${PYTHONPATH:-}
[ -f "$CARRY/u2net/u2netp.onnx" ] && export U2NET_HOME=$PWD/$CARRY/u2net
if compgen -G ".whl/*.whl" >/dev/null && [ ! -f "$FM_TMP/site/.done" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$FM_TMP/site" .whl/*.whl \
    && touch "$FM_TMP/site/.done"
fi
mkdir -p "$FOCUSMIM_DATA" "$FOCUSMIM_RUNS" "$OUT"
for f in "$CARRY"/*.tar.xz; do
  [ -e "$f" ] || continue
  [ "$(basename "$f")" = book-store.tar.xz ] && continue   # the book's store, restored by the queue
  d=$(basename "$f" .tar.xz)
  [ -d "$FOCUSMIM_DATA/$d" ] || tar xJf "$f" -C "$FOCUSMIM_DATA"
done
restore=()
[ -f "$CARRY/store.tar.gz" ] && restore=(--restore "$CARRY/store.tar.gz")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
left=$(( BUDGET - ($(date +%s) - t0) - 25 ))   # 25 s for the last write-out
echo "setup took $(( $(date +%s) - t0 )) s; queue budget ${left} s"
book=${BOOK_STORE:-}            # the book's store: packed by --pack into the carry, else the tree's results/store
[ -z "$book" ] && { [ -f "$CARRY/book-store.tar.xz" ] && book=$CARRY/book-store.tar.xz || book=results/store; }
python3 "$HERE/device_queue.py" --store "$FOCUSMIM_RUNS" --out "$OUT" --budget-s "$left" \
  --book-store "$book" "${restore[@]}" "$@"
rc=$?
ls -la "$OUT"
exit $rc
