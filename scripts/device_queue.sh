#!/usr/bin/env bash
# A short, offline GPU lease, start to finish, in two commands (book/how_to_run.md, "A short GPU lease"):
#
#   1. here:              bash scripts/device_queue.sh --pack imagenette96
#      packs ../shared/data/imagenette96 into .carry/ (48.5 MiB), u2netp's weights when found (4.4 MiB, for
#      chapters 4 and 5), and checks what the lease sends (the repository with the book's store results/store,
#      which travels as tracked files and is restored on the machine, + .carry + .whl) against the 64 MiB limit;
#      it exits 1 when it does not fit. See the queue first:
#        python scripts/device_queue.py --preset imagenette --dry-run --pack .carry/imagenette96.tar.xz
#   2. on the GPU machine (carry .carry; .whl only if you packed wheels), one command of at most 10 minutes:
#        BUDGET=540 bash scripts/device_queue.sh
#      installs carried wheels, unpacks the data, restores the book's store (and an earlier lease's
#      .carry/store.tar.gz), then works through the whole book's queue (scripts/device_queue.py: the capture
#      check, the learning-rate selection, the 100-epoch comparison, chapters 2-7, the readouts), writing
#      store.tar.gz, zoo-<n>.tar, queue.json, capture.json and SHA256SUMS into $OUT after every finished item.
#      Rerunnable: it continues (a run already stored is never trained again).
#   3. back here, ONE command: the runs into results/store, the models into zoo/ (scripts/zoo_add.py), the
#      capture check and the log into benchmarks/results, every file verified (SHA256SUMS, the store's manifest);
#      a damaged file is named and set aside, nothing already stored is lost:
#        bash scripts/device_queue.sh --bring-back DIR        # DIR: the folder the lease's $OUT came back to
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
    u2=$(python3 -c "from focusmim.foreground import weights_path; print(weights_path())" 2>/dev/null)
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
