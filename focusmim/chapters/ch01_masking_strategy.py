"""Chapter 1: which masking strategy teaches the encoder the most?

Trains (or reuses) one autoencoder per masking strategy, probes each frozen
encoder linearly, sweeps the masking ratio of random patches and of the masked
periphery, and reconstructs a few test images with every trained model. The
reconstructions are cached in each run's folder, so a reader without the
checkpoints still gets the figure.

Example:
    >>> from focusmim.chapters.ch01_masking_strategy import masked_fractions, sweep_conditions
    >>> {k: round(v, 3) for k, v in masked_fractions(96).items()}
    {'random patches, ratio 0.6': 0.597, 'masked periphery, ratio 0.8': 0.805}
    >>> sorted(sweep_conditions([0.6]))
    ['masked periphery, ratio 0.6', 'random patches, ratio 0.6']
"""
from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from focusmim import masking
from focusmim.chapters import register
from focusmim.evaluation.claims import describe, judge
from focusmim.data import load_for_config
from focusmim.data.base import spread_over_classes
from focusmim.evaluation.paper import CLAIMS
from focusmim.config.presets import PRESET_RANK
from focusmim.experiments import Table, compare, load_tables, mean_std
from focusmim.evaluation.probe import evaluate
from focusmim.store.runs import Run, RunStore

__all__ = ["STRATEGIES", "SWEEP", "compute", "sweep_conditions", "default_ratio", "masked_fractions", "budget_curves",
           "claims_by_budget", "shown_sweep", "curve_table", "MAIN_CLAIMS", "read_examples",
           "reconstructions", "reconstruction_images", "same_images", "accuracies", "N_RECONSTRUCTIONS"]

NAME = "01_masking_strategy"

# condition name (as in focusmim.evaluation.paper.PAPER_ACCURACY) -> config overrides
STRATEGIES: dict[str, dict[str, Any]] = {
    "random patches": dict(masker="random_patches"),
    "masked periphery": dict(masker="masked_periphery"),
    "foveal filter": dict(masker="foveal"),
    "blurry random patches": dict(masker="blurry_patches"),
    "blurry periphery": dict(masker="blurry_periphery"),
    "plain autoencoder": dict(masker="none"),
}
# the paper's claims this chapter judges (focusmim.evaluation.paper.CLAIMS)
MAIN_CLAIMS = ("patches >= periphery", "periphery >> foveal", "foveal ~ autoencoder", "autoencoder > raw pixels",
               "blur hurts patches", "blur hurts periphery")
# strategies whose masking ratio is swept
SWEEP = {"random patches": "random_patches", "masked periphery": "masked_periphery"}
N_RECONSTRUCTIONS = 3  # test images reconstructed by every strategy (one per class)
# what a figure says when it shows an evaluation cached before examples were spread over classes
OLDER_EXAMPLES = ("the first test images (all of one class), stored before examples were spread over classes; "
                  "this run's weights are not here to redo them")


def default_ratio(masker: str) -> float | None:
    """The masker's default ``ratio`` (the paper's: 0.6 patches, 0.8 periphery), or None."""
    p = inspect.signature(masking.REGISTRY.get(masker)).parameters.get("ratio")
    return None if p is None or p.default is inspect.Parameter.empty else float(p.default)


def sweep_conditions(ratios: Sequence[float]) -> dict[str, dict[str, Any]]:
    """Conditions ``"<strategy>, ratio r"`` for every swept strategy and ratio. The
    masker's default ratio maps to ``ratio=None``, so that run is the main table's."""
    ratios = list(ratios)
    bad = [r for r in ratios if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r < 1]
    if not ratios or bad:
        raise ValueError(f"ratios={ratios!r} is not allowed; allowed: a non-empty list of numbers strictly "
                         f"between 0 and 1")
    out = {}
    for name, m in SWEEP.items():
        d = default_ratio(m)
        for r in ratios:
            out[f"{name}, ratio {r:g}"] = dict(masker=m, ratio=None if d is not None and abs(r - d) < 1e-9
                                               else float(r))
    return out


def masked_fractions(image_size: int = 96) -> dict[str, float]:
    """Fraction of pixels in the loss region for the paper's two main masks at
    ``image_size`` (random patches at 0.6, masked periphery at 0.8). At 96 px:
    0.597 and 0.805, as in the reference code."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 12:
        raise ValueError(f"image_size={image_size!r} is not allowed; allowed: a whole number >= 12")
    x = torch.rand(2, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    rp = masking.build("random_patches", ratio=0.6)(x, g)
    mp = masking.build("masked_periphery", ratio=0.8)(x, g)
    return {"random patches, ratio 0.6": float(rp.weight.mean()),
            "masked periphery, ratio 0.8": float(mp.weight.mean())}


def _older_name(n: int, seed: int) -> str:
    """The cache name of examples stored before they were spread over classes (no images' digest)."""
    return f"reconstructions-n{n}-s{seed}.json"


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return x.clamp(0, 1).mul(255).round().to(torch.uint8).numpy()


IMAGE_KEYS = ("masked", "reconstruction", "target", "weight")  # the example images, uint8 (n,C,H,W)


def _pack(d: dict) -> dict:
    """Examples as arrays for :meth:`~focusmim.store.runs.Run.cached_arrays`: the images as uint8 arrays (a 96 px
    grid as JSON lists takes 2.7 MB), everything else as one JSON string."""
    meta = {k: v for k, v in d.items() if k not in IMAGE_KEYS}
    return {**{k: np.asarray(d[k], np.uint8) for k in IMAGE_KEYS if k in d}, "meta": np.array(json.dumps(meta))}


def _unpack(arrays: dict) -> dict:
    out = {k: arrays[k] for k in IMAGE_KEYS if k in arrays}
    out.update(json.loads(str(arrays["meta"])))
    return out


def read_examples(path) -> dict:
    """Cached examples of :func:`reconstructions` from their file: ``.npz`` (images as arrays) or ``.json``
    (examples cached before they were stored as arrays)."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return _unpack({k: z[k] for k in z.files})
    return json.loads(path.read_text())


def reconstruction_images(cfg) -> torch.Tensor:
    """The test images every strategy reconstructs: uint8 (n,3,H,W), one from each of
    :data:`N_RECONSTRUCTIONS` classes (the split's first images are often of one class)."""
    test_set = load_for_config(cfg, "test")
    return test_set.images[spread_over_classes(test_set.labels, N_RECONSTRUCTIONS)]


@torch.no_grad()
def reconstructions(run: Run, images: torch.Tensor, seed: int = 0) -> dict:
    """Masked input, reconstruction and target of ``images`` (uint8 (n,3,H,W)) for a
    trained run's own masker, as uint8 arrays, cached in the run's folder (``.npz``; examples
    cached earlier as ``.json`` lists are read as they are). The mask is drawn from
    ``torch.Generator().manual_seed(seed)``.

    For a run whose weights were not kept, the zoo's model of the run draws them (see
    :meth:`focusmim.store.runs.Run.load_model`); the cached result then says so under ``"weights"``
    (:func:`focusmim.experiments.captions.weights_note`)."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError("images must be a uint8 tensor (n,3,H,W); allowed: ImageSet.images[:n]")

    def compute() -> dict:
        cfg = run.config
        model = run.load_model("best")
        weights = model.weights_source  # None: this run's own checkpoint
        x = images.float().div(255)
        out = masking.build(cfg.masker, **cfg.masker_kwargs())(
            x, torch.Generator().manual_seed(seed), index=torch.arange(len(x)))
        recon, _ = model(out.inputs)
        got = {"masked": _to_uint8(out.inputs), "reconstruction": _to_uint8(recon), "target": _to_uint8(x),
               "weight": _to_uint8(out.weight), "masker": cfg.masker, "seed": seed}
        return got if weights is None else dict(got, weights=weights)

    digest = hashlib.sha1(images.cpu().numpy().tobytes()).hexdigest()[:8]  # which images: part of the key
    base = f"reconstructions-n{len(images)}-s{seed}-{digest}"
    if (run.dir / f"{base}.json").exists():  # cached before examples were stored as arrays
        return run.load_json(f"{base}.json")
    got = run.cached_json_or_older(f"{base}.npz", lambda: _pack(compute()), _older_name(len(images), seed),
                                   OLDER_EXAMPLES)
    return got if "older" in got else _unpack(got)


def same_images(recon: dict[str, dict], runs: dict[str, Run]) -> dict[str, dict]:
    """Every row of the grid on the same test images: when some strategies' examples are
    older ones (their weights are not here to redo them), the others show their own older
    examples too where they have them, marked as such. ``runs``: strategy -> the run."""
    if not any(d.get("older") for d in recon.values()):
        return recon
    out = {}
    for name, d in recon.items():
        old = None if d.get("older") else runs[name].load_json(_older_name(N_RECONSTRUCTIONS, d.get("seed", 0)))
        out[name] = d if old is None else dict(old, older=OLDER_EXAMPLES)
    return out


@register(NAME)
def compute(nb, store: RunStore | None = None, progress: bool = True) -> dict:
    """Chapter 1's experiments for the notebook context ``nb`` (see
    :func:`focusmim.book.notebook.setup`; uses ``nb.base``, ``nb.seeds``, ``nb.probe_seeds``,
    ``nb.ratios``). Returns ``table`` (one row per strategy plus raw pixels),
    ``sweep`` (rows with ``strategy`` and ``ratio``), ``reconstructions``
    (condition -> dict of uint8 image lists), ``fractions`` and ``runs``."""
    store = store if store is not None else RunStore()
    ratios = list(nb.ratios or ())
    sweep_conds = sweep_conditions(ratios) if ratios else {}  # validated before any training
    table = compare(nb.base, STRATEGIES, seeds=nb.seeds, probe_seeds=nb.probe_seeds, raw_pixels=True,
                    store=store, title="Linear probe per masking strategy", progress=progress)
    if sweep_conds:
        sweep = compare(nb.base, sweep_conds, seeds=nb.ablation_seeds, probe_seeds=nb.probe_seeds, store=store,
                        title="Masking-ratio sweep", progress=progress)
    else:  # a preset without a sweep (its runs await a GPU): the chapter shows a smaller tier's
        sweep = Table("Masking-ratio sweep", meta=dict(table.meta, ratios=[]))
    for row in sweep.rows:
        strategy, ratio = row["condition"].rsplit(", ratio ", 1)
        row["strategy"], row["ratio"] = strategy, float(ratio)
    sweep.meta["ratios"] = [float(r) for r in ratios]
    curves = budget_curves(nb.base, table, nb.probe_seeds, store) if nb.base.snapshot_epochs else None
    runs = {name: rs[:1] for name, rs in table.runs.items()}  # the first seed's runs, trained by compare

    test = reconstruction_images(nb.base)
    recon = same_images({name: reconstructions(rs[0], test) for name, rs in runs.items()},
                        {name: rs[0] for name, rs in runs.items()})
    return {"table": table, "sweep": sweep, "reconstructions": recon, "fractions": masked_fractions(96),
            "runs": runs, "image_size": nb.base.image_size, "curves": curves}


def budget_curves(base, table: Table, probe_seeds: Sequence[int], store: RunStore | None = None) -> Table:
    """Probe accuracy of every strategy of ``table`` after each snapshot epoch of its runs and at the end
    (the best checkpoint, as the table), one row per (condition, epoch), with the per-seed accuracies; the
    raw-pixel baseline as a constant row at every epoch, so that each epoch is a whole comparison of its own
    (:func:`claims_by_budget`). The probes are the runs' cached ones (the GPU lease computed them)."""
    epochs = [*base.snapshot_epochs, base.epochs]
    curves = Table("Probe accuracy against pretraining epochs",
                   meta=dict(table.meta, curve_epochs=epochs, probe_seeds=list(probe_seeds)))
    raw = next((r for r in table.rows if r["condition"] == "raw pixels"), None)
    for name, runs in table.runs.items():
        for e in epochs:
            which = "best" if e == base.epochs else e
            evals = [evaluate(r, probe_seeds, which) for r in runs]
            accs = [ev["accuracy_mean"] for ev in evals]
            mean, std = mean_std(accs) if len(accs) > 1 else (accs[0], evals[0]["accuracy_std"])
            curves.rows.append({"condition": name, "epoch": e, "checkpoint": str(which), "accuracy_mean": mean,
                                "accuracy_std": std, "seed_accuracies": accs,
                                "pretrain_seeds": [r.config.seed for r in runs],
                                "run_keys": [r.dir.name for r in runs], "device": runs[0].metrics.get("device_name")})
    if raw is not None:
        for e in epochs:
            curves.rows.append({**{k: raw[k] for k in ("condition", "accuracy_mean", "accuracy_std")},
                                "epoch": e, "checkpoint": "none", "pretrain_seeds": []})
    return curves


def claims_by_budget(curves: Table, claims: Sequence[str]) -> Table:
    """Each claim judged at each budget of :func:`budget_curves` (inside that epoch's rows: same runs,
    seeds and probe): one row per claim with its verdict and difference at every epoch."""
    epochs = curves.meta.get("curve_epochs") or sorted({r["epoch"] for r in curves.rows})
    out = Table("The paper's claims at each budget", meta=dict(curves.meta))
    for c in claims:
        row = {"claim": c, "threshold": CLAIMS[c].threshold()}
        for e in epochs:
            rows = {r["condition"]: r for r in curves.rows if r["epoch"] == e}
            res = judge(CLAIMS[c], rows)
            row[f"{e} epochs"] = describe(res)
            row[f"verdict {e}"] = res["verdict"]
        out.rows.append(row)
    return out


def accuracies(table: Table) -> dict[str, float]:
    """condition -> mean accuracy of a table (for :func:`focusmim.evaluation.paper.claim_holds`)."""
    return {r["condition"]: r["accuracy_mean"] for r in table.rows if r.get("accuracy_mean") is not None}


def shown_sweep(sweep: Table, preset: str, root=None) -> tuple[Table, str]:
    """The sweep the chapter shows, and a line saying whose it is: this preset's when it has one, else the
    published sweep of the largest smaller tier (``results/<preset>/01_masking_strategy-sweep.json``)."""
    if sweep.rows:
        return sweep, f"the masking-ratio sweep at this preset ({preset})"
    for tier, t in load_tables(f"{NAME}-sweep", root).items():
        if PRESET_RANK[tier] < PRESET_RANK.get(preset, 99) and t.rows:
            m = t.meta
            return t, (f"no sweep at this preset ({preset}: its runs await a GPU lease); shown: the {tier} tier's "
                       f"({m.get('dataset')} {m.get('image_size')} px, {m.get('epochs')} epochs)")
    return sweep, f"no sweep at this preset ({preset}) and none published at a smaller one"


def curve_table(curves: Table) -> Table:
    """:func:`budget_curves` as one row per condition and one column per budget (``<e> epochs``: mean
    ± std over pretraining seeds), for reading beside the figure."""
    epochs = curves.meta.get("curve_epochs") or sorted({r["epoch"] for r in curves.rows})
    out = Table(curves.title, meta=dict(curves.meta))
    best = {r["epoch"] for r in curves.rows if r.get("checkpoint") == "best"}
    for name in dict.fromkeys(r["condition"] for r in curves.rows):
        row = {"condition": name}
        for r in curves.rows:
            if r["condition"] == name:
                # the last budget is the run's reported checkpoint (lowest training loss), not the last epoch's
                label = f"{r['epoch']} epochs" + (" (lowest-loss checkpoint)" if r["epoch"] in best else "")
                row[label] = f"{100 * r['accuracy_mean']:.1f} ± {100 * (r['accuracy_std'] or 0):.1f} %"
        out.rows.append(row)
    return out
