#!/usr/bin/env bash
# Prepare a GPU machine (no internet) for focusmim runs: unpack CIFAR-10 JPEGs carried as .carry/cifar10.zip
# (made from ../shared/data/cifar10 with `python scripts/pack_cifar10.py`), point the package at them and at
# a run store on local disk. Source it: `. scripts/device_setup.sh`.
set -e
export FOCUSMIM_DATA=/tmp/fmdata FOCUSMIM_CACHE=/tmp/fmcache FOCUSMIM_RUNS=${FOCUSMIM_RUNS:-/tmp/fmruns}
export PYTHONPATH=$PWD:${PYTHONPATH:-} PYTHONUNBUFFERED=1 MPLBACKEND=Agg TQDM_MININTERVAL=20
if [ ! -d /tmp/fmdata/cifar10 ] && [ -f .carry/cifar10.zip ]; then
  mkdir -p /tmp/fmdata && python3 -m zipfile -e .carry/cifar10.zip /tmp/fmdata/
fi
set +e
