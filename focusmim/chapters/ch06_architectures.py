"""Chapter 6: does the story hold for a modern ConvNet? ConvNeXt-V2 pico with FCMAE-style training.

FocusMIM (Brucklacher et al.) also pretrains a ConvNeXt-V2 pico with a one-block
decoder: AdamW, weight decay 0.05, 20 warmup epochs of 370 then cosine decay,
batch 512, learning rate from {1.6e-4, 5e-4, 1.5e-3}; random patches (ratio 0.6)
against the periphery predicted from the central 3x3 of the 7x7 patch grid. It
probes linearly on the final feature map *without* pooling and fine-tunes
*with* global average pooling. This chapter runs that recipe at the notebook's
budget (warmup scaled to ``round(epochs * 20 / 370)``) and sets the numbers
beside the autoencoder's from chapter 1.

Grid mapping. ``convnext_fcmae`` is built from the config with its stock stem
(stride 4), so its final map has ``image_size / 32`` positions per side (1 at
32 px, 3 at 96 px, 7 at 224 px). Masks are applied in pixel space, relative
to the image: ``grid_periphery`` cuts the image into 7x7 cells and shows only
the central 3x3 (the paper's geometry at every resolution), and random
patches hide 60 % of the usual 12x12 cells. Below 224 px the mask cells are
therefore finer than the encoder's final positions.

Example:
    >>> from focusmim.chapters.ch06_architectures import grid_mapping, warmup_for
    >>> grid_mapping(224)["final_map"], grid_mapping(32)["final_map"]
    (7, 1)
    >>> warmup_for(370), warmup_for(2)
    (20, 0)
"""
from __future__ import annotations

from typing import Any

import torch

from focusmim import masking
from focusmim.chapters import register
from focusmim.config import resolve_device
from focusmim.data import load_for_config
from focusmim.experiments import Table, compare, load_tables
from focusmim.config.presets import CHAPTER_DEFAULTS, LR_GRID, SMOKE_BUDGETS
from focusmim.evaluation.probe import finetune, split_labeled
from focusmim.store.runs import Run, RunStore

__all__ = ["NAME", "LR_GRID", "CONDITIONS", "convnext_base", "grid_mapping", "warmup_for", "finetune_run",
           "autoencoder_rows", "compute", "FINETUNE_DEFAULTS"]

NAME = "06_architectures"
CONDITIONS: dict[str, dict[str, Any]] = {
    "random patches": dict(masker="random_patches", ratio=0.6),
    "periphery (central 3x3 of 7x7)": dict(masker="grid_periphery"),
}
_CH = CHAPTER_DEFAULTS[NAME]
FINETUNE_DEFAULTS = {preset: d["finetune"] for preset, d in _CH.items()}  # fine-tuning budget per preset
LR_DEFAULTS = {preset: d["lrs"] for preset, d in _CH.items()}


def warmup_for(epochs: int) -> int:
    """The paper's 20 warmup epochs of 370, scaled to ``epochs`` (rounded)."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is not allowed; allowed: a whole number >= 1")
    return min(epochs - 1, round(epochs * 20 / 370))


def grid_mapping(image_size: int, stem_stride: int = 4) -> dict:
    """The encoder's final map side and the periphery mask's cell side at ``image_size``,
    and the masked fraction of ``grid_periphery`` there."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 16:
        raise ValueError(f"image_size={image_size!r} is not allowed; allowed: a whole number >= 16")
    out = masking.build("grid_periphery")(torch.zeros(1, 3, image_size, image_size), None)
    return {"image_size": image_size, "final_map": image_size // (8 * stem_stride),
            "encoder_patch_px": 8 * stem_stride, "mask_cell_px": image_size / 7,
            "masked_fraction": float(out.weight.mean())}


def convnext_base(base, lr: float):
    """The paper's ConvNeXt recipe on top of a notebook's base config."""
    batch = base.batch_size if base.n_unlabeled is not None and base.n_unlabeled < 2048 else 512
    return base.replace(model="convnext_fcmae", optimizer="adamw", weight_decay=0.05, schedule="cosine",
                        warmup_epochs=warmup_for(base.epochs), lr=float(lr), crop=True, flip=True,
                        batch_size=batch)


def finetune_run(run: Run, preset: str, seed: int = 0) -> dict:
    """End-to-end fine-tuning (global average pooling + linear head) of a run's encoder
    on the labeled split; cached in the run's folder."""
    kw = FINETUNE_DEFAULTS[preset]

    def compute() -> dict:
        cfg = run.config
        train, test = load_for_config(cfg, "train"), load_for_config(cfg, "test")
        tr, va = split_labeled(len(train), seed)
        model = run.load_model(cfg.epochs if cfg.epochs in cfg.snapshot_epochs else "best")
        return finetune(model, train.images[tr], train.labels[tr], train.images[va], train.labels[va],
                        test.images, test.labels, seed=seed, device=resolve_device(cfg.device), **kw)

    return run.cached_json(f"finetune-{preset}-s{seed}.json", compute)


def autoencoder_rows() -> tuple[str | None, list[dict]]:
    """Chapter 1's rows for random patches and masked periphery at the largest stored budget."""
    tables = load_tables("01_masking_strategy")
    for preset, t in tables.items():
        rows = [r for r in t.rows if r["condition"] in ("random patches", "masked periphery")]
        if rows:
            return preset, rows
    return None, []


SMOKE_BUDGET = SMOKE_BUDGETS[NAME]


def _budget(nb):
    """The chapter's budget: :data:`SMOKE_BUDGET` applies at the smoke preset only."""
    return nb.shrink_for_smoke(SMOKE_BUDGET, NAME)


@register(NAME)
def compute(nb, store: RunStore | None = None, progress: bool = True) -> dict:
    """Chapter 6's experiments. Notebook param ``lrs`` (None -> per preset: smoke 1.5e-3,
    cpu {5e-4, 1.5e-3}, gpu/paper the paper's grid). Returns ``table`` (one row per
    condition and lr: linear probe without pooling, kNN, fine-tuning with pooling),
    ``best`` (the best lr per condition by linear probe), ``autoencoder`` (chapter 1's
    rows and their preset), ``mapping`` and ``runs``."""
    store = store if store is not None else RunStore()
    _budget(nb)
    lrs = nb.extra.get("lrs") or LR_DEFAULTS[nb.preset]
    bad = [v for v in lrs if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0]
    if bad or not lrs:
        raise ValueError(f"lrs={lrs!r} is not allowed; allowed: a non-empty list of positive learning rates")
    bases = {lr: convnext_base(nb.base, lr) for lr in lrs}
    for b in bases.values():
        for over in CONDITIONS.values():
            b.replace(snapshot_epochs=(b.epochs,), **over)
    table = Table("ConvNeXt-V2 pico: linear probe (no pooling), kNN, fine-tuning (pooling)")
    runs: dict[str, list[Run]] = {}
    for lr, b in bases.items():
        conds = {f"{name}, lr {lr:g}": dict(over, snapshot_epochs=(b.epochs,)) for name, over in CONDITIONS.items()}
        t = compare(b, conds, seeds=nb.seeds, probe_seeds=nb.probe_seeds, which=b.epochs, store=store,
                    progress=progress)
        rs = t.runs
        for row in t.rows:
            name, _ = row["condition"].rsplit(", lr ", 1)
            ft = [finetune_run(r, nb.preset) for r in rs[row["condition"]]]
            accs = [f["accuracy"] for f in ft]
            row.update(strategy=name, lr=lr, finetune=sum(accs) / len(accs), finetune_epochs=ft[0]["epochs"])
            table.rows.append(row)
        runs.update(rs)
        table.meta = dict(t.meta, lrs=list(lrs), warmup_epochs=b.warmup_epochs, optimizer="adamw",
                          weight_decay=0.05, model="convnext_fcmae")
    best = {}
    for row in table.rows:
        s = row["strategy"]
        if s not in best or row["accuracy_mean"] > best[s]["accuracy_mean"]:
            best[s] = row
    ae_preset, ae_rows = autoencoder_rows()
    return {"table": table, "best": best, "autoencoder": {"preset": ae_preset, "rows": ae_rows},
            "mapping": grid_mapping(nb.base.image_size), "runs": runs}
