#!/usr/bin/env bash
# Execute chapters on this CPU (at the cpu preset, or from stored GPU runs) into notebooks/ (the book's rendered pages), with the
# book's run store (results/store: configs, metrics and cached evaluations are committed, weights are not).
set -u
cd "$(dirname "$0")/.."
export FOCUSMIM_RUNS=$PWD/results/store MPLBACKEND=Agg
unset FOCUSMIM_PRESET FOCUSMIM_RESULTS
# papermill records the parameters in an injected cell; it is removed afterwards (focusmim.book.hygiene.clean) so that the
# committed notebook re-executes at whatever preset its reader (or CI) chooses (the outputs still print the budget),
# together with frozen progress bars, ipywidgets outputs and widget state (the book's explorers are plotly figures)
strip() { python3 -m focusmim.book.hygiene clean "$1"; }
run() { local nb=$1; shift; echo "== $nb $(date +%T)"; papermill "notebooks/$nb.ipynb" "notebooks/$nb.ipynb" "$@" --log-level WARNING || echo "FAILED $nb"; strip "notebooks/$nb.ipynb"; echo "== done $nb $(date +%T)"; }
for nb in "$@"; do
  case $nb in
    # chapters 01-03 render the runs trained on the GPU (scripts/device_precompute.sh) from the store
    # chapter 1: the imagenette preset (96 px ImageNet photographs; runs from scripts/device_queue.sh on an H200)
    01_masking_strategy) run $nb -p preset imagenette ;;
    # chapters 2-3 at the gpu tier (CIFAR-10 32 px); their foveal and blurry-periphery runs predate the reference
    # foveation and the periphery's lr for blurry periphery (new keys): re-rendering them retrains those on the GPU
    02_decorrelation|03_augmentation) run $nb -p preset gpu ;;
    # CIFAR-10 with rembg's maps, 3 pretraining seeds: 10,000 pretraining images, of which rembg finds an object in 3,162
    # (the paper's filter keeps those), 12 epochs; the maps come from `python -m focusmim maps` (slow on a CPU:
    # about 0.18 s per image on 2 cores; computed on the GPU machine's CPU and carried back)
    04_object_loss|05_covert_attention) run $nb -p preset cpu -p n_unlabeled 10000 -p epochs 12 -y "probe_epochs: [4, 12]" -y "seeds: [0, 1, 2]" ;;
    # CIFAR-10, 5,000 images, 6 epochs; the masks' object affinity against rembg's maps of the test images
    07_learned_masks) run $nb -p preset cpu -y "seeds: [0, 1, 2]" ;;
    # the GPU budget covered one of the paper's three ConvNeXt learning rates (3 seeds each)
    06_architectures) run $nb -p preset gpu -y "lrs: [0.00016]" ;;
  esac
done
# the chapters' tables were saved into results/store/tables/; copy them into the book's results/<preset>/
python -m focusmim publish
