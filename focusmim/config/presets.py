"""Every preset and budget, written once: the scale of the work at each preset.

A preset names a scale of work (``smoke``: seconds on a laptop CPU; ``cpu``:
minutes on 2 cores; ``gpu``: one GPU; ``imagenette``: the paper's geometry, 96 px ImageNet photographs, on
one GPU; ``paper``: the paper's protocol). This
module holds every number that depends on it, so changing a budget is one edit:

* :data:`PRESETS`: the :class:`~focusmim.config.Config` fields of each preset;
* :data:`NOTEBOOK_DEFAULTS`: the notebooks' own parameters (seeds, probe seeds, ratios, ...);
* :data:`CHAPTER_DEFAULTS`: one chapter's extra per-preset parameters;
* :data:`SMOKE_BUDGETS`: the smaller Config budgets chapters use at the smoke preset only.

It imports nothing, so every layer of the package may read it.

    >>> from focusmim.config.presets import PRESETS, NOTEBOOK_DEFAULTS, SMOKE_BUDGETS
    >>> PRESETS["smoke"]["dataset"], NOTEBOOK_DEFAULTS["smoke"]["seeds"]
    ('synthetic', (0,))
    >>> sorted(SMOKE_BUDGETS)
    ['06_architectures', '07_learned_masks']
"""
from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "MAIN_JOB", "main_job", "PRESET_RANK", "NOTEBOOK_DEFAULTS", "CHAPTER_DEFAULTS", "SMOKE_BUDGETS", "LR_GRID", "LR_CANDIDATES"]

# Config fields of each preset. Explicit parameters override them.
PRESETS: dict[str, dict[str, Any]] = {
    # seconds on a laptop CPU: the whole pipeline, tiny synthetic data
    "smoke": dict(
        dataset="synthetic", image_size=32, n_unlabeled=768, n_labeled=500, n_test=500,
        width=0.5, epochs=2, batch_size=128,
    ),
    # minutes on 2 CPU cores: real images (CIFAR-10 from ../shared or $FOCUSMIM_DATA);
    # measured about 530 images/s at 32 px, so one run (5,000 images x 6 epochs) takes about a minute
    "cpu": dict(
        dataset="cifar10", image_size=32, n_unlabeled=5000, n_labeled=5000, n_test=2000,
        width=1.0, epochs=6, batch_size=256,
    ),
    # one GPU, all 50,000 CIFAR-10 training images (about 2 s an epoch on an H100 at 32 px)
    "gpu": dict(
        dataset="cifar10", image_size=32, n_unlabeled=None, n_labeled=5000, n_test=None,
        width=1.0, epochs=10, batch_size=512, amp=True, compile=True,
    ),
    # the paper's geometry on real photographs: imagenette96 (ImageNet photos at 96 px, the book's STL-10
    # stand-in), all 9,469 train images to pretrain, the paper's probe on 5,000 labeled (500 a class), all
    # 3,925 test images; snapshots for the budget curves (probe accuracy after 10 and 25 epochs)
    "imagenette": dict(
        dataset="imagenette", image_size=96, n_unlabeled=None, n_labeled=5000, n_test=None,
        width=1.0, epochs=50, batch_size=512, amp=True, compile=True, snapshot_epochs=(10, 25),
    ),
    # the paper's protocol: STL-10 unlabeled (100k), 96 px, 500 epochs, batch 512
    "paper": dict(
        dataset="stl10", image_size=96, n_unlabeled=None, n_labeled=5000, n_test=None,
        width=1.0, epochs=500, batch_size=512, amp=True, compile=True,
    ),
}


# The main job (`python -m focusmim run`) may use its own budget on top of a preset: at smoke, the notebooks
# (executed by CI) keep the tiny budget above, while the README's first command must show the effect on 2 CPU
# cores in about 3 minutes: 4 strategies x 3 pretraining seeds on more images, many more optimiser steps (batch
# 32: at CPU budgets the number of steps limits the encoder), one learning rate for every strategy (the paper's 1e-4
# for the periphery leaves it at chance after 3 epochs), and a linear probe with a larger step size (1e-3) on the
# paper's 5,000 labeled images (with 1,000, raw pixels fall from 26 % to 15 %).
# ``seeds`` and ``probe_seeds`` are the job's, ``probe`` the probe's keyword arguments; the rest are Config fields.
MAIN_JOB: dict[str, dict[str, Any]] = {
    "smoke": dict(n_unlabeled=1000, epochs=4, batch_size=16, n_labeled=5000, n_test=1000, width=0.25, lr=1e-3,
                  seeds=(0, 1, 2), probe_seeds=(0,), probe=dict(lr=3e-3)),
    "cpu": dict(seeds=(0, 1, 2), probe_seeds=(0, 1, 2)),
    "gpu": dict(seeds=(0, 1, 2), probe_seeds=(0, 1, 2, 3, 4)),
    "imagenette": dict(seeds=(0, 1, 2), probe_seeds=(0, 1, 2, 3, 4)),
    "paper": dict(seeds=(0,), probe_seeds=(0, 1, 2, 3, 4)),
}

def main_job(preset: str) -> tuple[dict[str, Any], tuple[int, ...], tuple[int, ...], dict[str, Any]]:
    """A preset's main job split into ``(config fields, pretraining seeds, probe seeds, probe keyword arguments)``.

        >>> fields, seeds, probe_seeds, probe = main_job("smoke")
        >>> seeds, "seeds" in fields, probe == MAIN_JOB["smoke"]["probe"]
        ((0, 1, 2), False, True)
    """
    job = dict(MAIN_JOB.get(preset, {}))
    seeds = tuple(job.pop("seeds", (0,)))
    probe_seeds = tuple(job.pop("probe_seeds", (0,)))
    probe = dict(job.pop("probe", {}))
    return job, seeds, probe_seeds, probe


PRESET_RANK = {"smoke": 0, "cpu": 1, "gpu": 2, "imagenette": 3, "paper": 4}  # larger budget wins in summaries

# per-preset defaults of the notebook-level parameters (not part of a run's config).
# ``seeds`` are the pretraining seeds of the headline comparison (chapter 1's strategies);
# ``ablation_seeds`` those of sweeps and ablations, which multiply the number of runs.
NOTEBOOK_DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": dict(seeds=(0,), probe_seeds=(0, 1), ratios=(0.2, 0.5, 0.8), probe_epochs=(1, 2), ablation_seeds=(0,)),
    # cpu: three probe seeds and two snapshot epochs, since on 2 cores the probe (up to 1,000 epochs
    # with early stopping) costs about as much as the 6-epoch pretraining run itself
    "cpu": dict(seeds=(0, 1, 2), probe_seeds=(0, 1, 2), ratios=(0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9),
                probe_epochs=(3, 6), ablation_seeds=(0,)),
    "gpu": dict(seeds=(0, 1, 2), probe_seeds=(0, 1, 2, 3, 4), ratios=(0.2, 0.4, 0.6, 0.8, 0.9),
                probe_epochs=(2, 5, 10), ablation_seeds=(0,)),
    # the masking-ratio sweep is not run at this preset yet (its runs await a GPU lease; scripts/device_queue.py
    # queues them): chapter 1 shows the largest smaller tier's sweep, named as such
    "imagenette": dict(seeds=(0, 1, 2), probe_seeds=(0, 1, 2, 3, 4), ratios=(),
                       probe_epochs=(10, 25, 50), ablation_seeds=(0,)),
    "paper": dict(seeds=(0,), probe_seeds=(0, 1, 2, 3, 4),
                  ratios=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), probe_epochs=(50, 100, 250, 500),
                  ablation_seeds=(0,)),
}

# the paper's candidate pretraining learning rates (Adam), selected per strategy (focusmim.experiments.lr_selection)
LR_CANDIDATES = (5e-5, 1e-4, 5e-4)
# chapter 6: the ConvNeXt learning-rate grid and fine-tuning budget (Adam, early stopping on validation loss)
LR_GRID = (1.6e-4, 5e-4, 1.5e-3)
# chapter -> preset -> the chapter's own defaults (``None`` in the notebook -> these)
CHAPTER_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "06_architectures": {
        "smoke": dict(finetune=dict(max_epochs=2, patience=1, lr=1e-4), lrs=(1.5e-3,)),
        "cpu": dict(finetune=dict(max_epochs=15, patience=3, lr=1e-4), lrs=(5e-4, 1.5e-3)),
        "gpu": dict(finetune=dict(max_epochs=50, patience=5, lr=1e-4), lrs=LR_GRID),
        "imagenette": dict(finetune=dict(max_epochs=50, patience=5, lr=1e-4), lrs=LR_GRID),
        "paper": dict(finetune=dict(max_epochs=100, patience=10, lr=1e-4), lrs=LR_GRID),
    },
    "07_learned_masks": {
        "smoke": dict(n_masks=3, single=True, n_snapshots=2, mask_width=0.25),
        "cpu": dict(n_masks=6, single=True, n_snapshots=5, mask_width=None),
        "gpu": dict(n_masks=6, single=False, n_snapshots=5, mask_width=None),
        "imagenette": dict(n_masks=6, single=False, n_snapshots=5, mask_width=None),
        "paper": dict(n_masks=6, single=False, n_snapshots=5, mask_width=None),
    },
}

# smoke only: smaller budgets so these notebooks run in about two minutes on a laptop CPU
SMOKE_BUDGETS: dict[str, dict[str, Any]] = {
    "06_architectures": dict(width=0.25, n_unlabeled=256, n_labeled=200, n_test=200),
    "07_learned_masks": dict(n_unlabeled=384),
}
