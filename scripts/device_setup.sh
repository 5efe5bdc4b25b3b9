#!/usr/bin/env bash
# Prepare a GPU machine (no internet) for focusmim runs: unpack CIFAR-10 JPEGs carried as .carry/cifar10.tar.xz
# (made from ../shared/data/cifar10 with `python scripts/pack_cifar10.py`), point the package at them and at
# a run store on local disk. Source it: `. scripts/device_setup.sh`.
set -e
export FOCUSMIM_DATA=/tmp/fmdata FOCUSMIM_CACHE=/tmp/fmcache FOCUSMIM_RUNS=${FOCUSMIM_RUNS:-/tmp/fmruns}
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 MPLBACKEND=Agg TQDM_MININTERVAL=20
if [ ! -d /tmp/fmdata/cifar10 ] && [ -f .carry/cifar10.tar.xz ]; then
  mkdir -p /tmp/fmdata && python3 -c "import tarfile; tarfile.open('.carry/cifar10.tar.xz').extractall('/tmp/fmdata', filter='data')"
fi
# rembg (chapters 04-05 on real images): wheels carried in .whl, u2netp weights in .carry/models
export PYTHONPATH=$PYTHONPATH:/tmp/site  # installed once per machine, found again by later calls
if [ -d .whl ] && ! python3 -c "import rembg" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
fi
[ -f .carry/models/u2netp.onnx ] && export U2NET_HOME=$PWD/.carry/models
set +e
