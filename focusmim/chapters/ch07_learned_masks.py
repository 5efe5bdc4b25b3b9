"""Chapter 7: learned adversarial masks (ADIOS) against FocusMIM's fixed masks.

Same encoder (the paper's autoencoder), same data, same epochs for every
condition: ADIOS masks with the reconstruction objective (``adios_mim``; its soft
mask both hides pixels and weights the error, so the mask network also chooses
where the error counts: the default ``loss_weight="mask"``, see
:mod:`focusmim.training.adios` for the ``"detached"`` and ``"image"`` alternatives) and
with SimCLR (``adios_simclr``), random patches and the masked periphery (the
paper's ``mim``), and plain SimCLR. Each frozen encoder is probed linearly and
with kNN on its final weights (a snapshot at the last epoch: an adversary makes the
training loss rise when it wins, so the lowest-loss epoch is no sign of the
best encoder). The mask networks are kept at snapshot epochs; the chapter
draws their masks on fixed test images over training, and measures how much
of the object each mask covers relative to its area (the object affinity: 1 = no
preference, > 1 = masks seek the object), against the ground truth on the
synthetic images and rembg's maps on real ones.

Example:
    >>> from focusmim.chapters.ch07_learned_masks import conditions, snapshot_epochs
    >>> sorted(conditions(n_masks=3, single=True, snapshots=(1, 2)))[:2]
    ['ADIOS masks, SimCLR', 'ADIOS masks, reconstruction']
    >>> snapshot_epochs(100, 5)
    (20, 40, 60, 80, 100)
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from focusmim.data import foreground as fg_maps
from focusmim import masking
from focusmim.chapters import register
from focusmim.chapters.ch01_masking_strategy import OLDER_EXAMPLES
from focusmim.data import load_for_config
from focusmim.data.base import spread_over_classes
from focusmim.experiments import Table, compare
from focusmim.masking.learned import load_mask_network
from focusmim.evaluation.metrics import object_affinity
from focusmim.config.presets import CHAPTER_DEFAULTS as _CHAPTER_DEFAULTS
from focusmim.config.presets import SMOKE_BUDGETS
from focusmim.store.runs import Run, RunStore

__all__ = ["NAME", "conditions", "snapshot_epochs", "mask_gallery", "compute",
           "CHAPTER_DEFAULTS", "ADIOS_CONDITIONS", "N_GALLERY"]

NAME = "07_learned_masks"
N_GALLERY = 4  # test images in the mask gallery
ADIOS_CONDITIONS = ("ADIOS masks, reconstruction", "ADIOS masks, SimCLR")
CHAPTER_DEFAULTS: dict[str, dict[str, Any]] = _CHAPTER_DEFAULTS[NAME]  # per preset (None in the notebook -> these)


def snapshot_epochs(epochs: int, n: int) -> tuple:
    """``n`` evenly spaced epochs ending at ``epochs`` (fewer when ``epochs < n``)."""
    for name, v in (("epochs", epochs), ("n_snapshots", n)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} is not allowed; allowed: a whole number >= 1")
    return tuple(sorted({max(1, round(epochs * (i + 1) / n)) for i in range(n)}))


def conditions(n_masks: int, single: bool, snapshots: Sequence[int],
               mask_width: float | None = None) -> dict[str, dict[str, Any]]:
    """condition name -> config overrides (validated later by ``Config.replace``). Every
    condition keeps a snapshot at its last epoch (the final weights are probed)."""
    op = {"n_masks": n_masks, "single": single}
    if mask_width is not None:
        op["mask_width"] = mask_width
    snaps = tuple(snapshots)
    last = (max(snaps),)
    return {
        ADIOS_CONDITIONS[0]: dict(objective="adios_mim", masker="none", objective_params=op, snapshot_epochs=snaps),
        ADIOS_CONDITIONS[1]: dict(objective="adios_simclr", masker="none", objective_params=op,
                                  snapshot_epochs=snaps),
        "random patches": dict(objective="mim", masker="random_patches", snapshot_epochs=last),
        "masked periphery": dict(objective="mim", masker="masked_periphery", snapshot_epochs=last),
        "SimCLR, no masks": dict(objective="simclr", masker="none", snapshot_epochs=last),
    }


# test images on which the masks' object affinity is measured with rembg's maps (real images)
AFFINITY_N = 2000


def _object_test(cfg, n: int | None = None):
    """Test images with object maps: the ground truth on the synthetic set; on real images
    rembg's u2netp maps of the first :data:`AFFINITY_N` test images, keeping those in which
    it finds an object (the paper's filter)."""
    if cfg.dataset == "synthetic":
        data = load_for_config(cfg.replace(foreground="gt"), "test")
    else:
        data = fg_maps.split_with_maps(cfg, "test", AFFINITY_N, drop=True, progress=False)
    return data if n is None else data.subset(torch.arange(min(n, len(data))))


def _masks_of(run: Run, which, x: torch.Tensor) -> torch.Tensor:
    net = load_mask_network(run.dir.name, run.dir.parent, which)
    return torch.cat([net(x[i:i + 256]) for i in range(0, len(x), 256)])


def mask_gallery(run: Run, n: int = N_GALLERY) -> dict:
    """Masks of ``n`` fixed test images at every snapshot epoch of an ADIOS run, plus the
    object affinity at each snapshot (against the ground truth on synthetic images, rembg's
    maps elsewhere); cached in the run's folder. The gallery's images are spread over the classes."""
    def compute() -> dict:
        cfg = run.config
        data = _object_test(cfg)
        x_all = data.images.float() / 255
        epochs = list(cfg.snapshot_epochs) or [cfg.epochs]
        show = spread_over_classes(data.labels, n)  # gallery images spread over the classes
        out = {"epochs": epochs, "images": data.images[show].tolist(), "masks": {}, "affinity": {}}
        for e in epochs:
            which = e if cfg.snapshot_epochs else "last"
            with torch.no_grad():
                m = _masks_of(run, which, x_all)
            out["masks"][str(e)] = m[show.to(m.device)].mul(255).round().to(torch.uint8).tolist()
            if data.foreground is not None:
                out["affinity"][str(e)] = object_affinity(m, data.foreground)
        return out

    source = "" if run.config.dataset == "synthetic" else "rembg-"
    return run.cached_json_or_older(f"mask-gallery-{source}classes-n{n}.json", compute,
                                    f"mask-gallery-{source}n{n}.json", OLDER_EXAMPLES)


@torch.no_grad()
def fixed_mask_affinity(cfg, masker: str, seed: int = 0, run: Run | None = None) -> dict | None:
    """Object affinity of a fixed masker's loss region on the test images (reference values).

    With ``run`` (a stored run on the same data as ``cfg``) the result is cached in its
    folder, so a chapter rendered from the store needs no foreground maps of the test
    images (rembg on :data:`AFFINITY_N` CIFAR-10 images takes minutes on a CPU)."""
    if run is not None:
        return run.cached_json(f"fixed-affinity-{masker}-s{seed}-n{AFFINITY_N}.json",
                               lambda: fixed_mask_affinity(cfg, masker, seed))
    data = _object_test(cfg)
    x = data.images.float() / 255
    out = masking.build(masker)(x, torch.Generator().manual_seed(seed))
    w = out.weight
    return object_affinity(torch.cat([w, 1 - w], 1), data.foreground)


SMOKE_BUDGET = SMOKE_BUDGETS[NAME]


def _budget(nb):
    """The chapter's budget: :data:`SMOKE_BUDGET` applies at the smoke preset only."""
    return nb.shrink_for_smoke(SMOKE_BUDGET, NAME)


@register(NAME)
def compute(nb, store: RunStore | None = None, progress: bool = True) -> dict:
    """Chapter 7's experiments. Notebook params (``None`` -> :data:`CHAPTER_DEFAULTS`):
    ``n_masks``, ``single`` (ADIOS-s), ``n_snapshots``. Returns ``table`` (linear probe and
    kNN per condition), ``affinity`` (Table: object affinity per mask source), ``galleries``
    (ADIOS condition -> cached gallery dict) and ``runs``."""
    store = store if store is not None else RunStore()
    _budget(nb)
    d = CHAPTER_DEFAULTS[nb.preset]
    n_masks = nb.extra.get("n_masks") or d["n_masks"]
    single = d["single"] if nb.extra.get("single") is None else nb.extra["single"]
    n_snap = nb.extra.get("n_snapshots") or d["n_snapshots"]
    mask_width = nb.extra.get("mask_width", d["mask_width"]) or d["mask_width"]
    conds = conditions(n_masks, single, snapshot_epochs(nb.base.epochs, n_snap), mask_width)
    for over in conds.values():  # validate every config before any training
        nb.base.replace(**over)
    table = compare(nb.base, conds, seeds=nb.seeds, probe_seeds=nb.probe_seeds, which=nb.base.epochs, raw_pixels=True,
                    store=store, title="Learned vs fixed masks: linear probe and kNN (final weights)",
                    progress=progress)
    table.meta.update(n_masks=n_masks, single=single, which=f"epoch {nb.base.epochs} (final)")
    runs = {k: table.runs[k][:1] for k in ADIOS_CONDITIONS}  # the first seed's runs, trained by compare
    galleries = {k: mask_gallery(rs[0]) for k, rs in runs.items()}
    aff = Table("Object affinity of the masks (coverage of the object / area; 1 = indifferent)",
                meta=dict(table.meta))
    for k, g in galleries.items():
        if g["affinity"]:
            last = g["affinity"][str(g["epochs"][-1])]
            aff.rows.append({"condition": k, "max_affinity": last["max_affinity"],
                             "affinity": last["affinity"], "area": last["area"], "coverage": last["coverage"],
                             "over_epochs": [g["affinity"][str(e)]["max_affinity"] for e in g["epochs"]],
                             "epochs": g["epochs"]})
    for name, m in (("random patches", "random_patches"), ("masked periphery", "masked_periphery")):
        r = fixed_mask_affinity(nb.base, m, run=next(iter(runs.values()))[0])  # same test images: caches it
        if r is not None:
            aff.rows.append({"condition": name, "max_affinity": r["affinity"][0], "affinity": r["affinity"][:1],
                             "area": r["area"][:1], "coverage": r["coverage"][:1]})
    return {"table": table, "affinity": aff, "galleries": galleries, "runs": runs, "n_masks": n_masks,
            "single": single}
