"""Chapter 2: do masked objectives decorrelate the latent units?

Reuses the models of chapter 1 (same configs, so the run store hands them back
untrained) and measures, on a fixed held-out batch of test images, the VICReg
covariance term (the paper's Fig. 4d) and the lifetime and population sparsity
of the latent units. Each number is cached in its run's folder. The per-epoch
decorrelation curves come from the runs' training metrics.

Example:
    >>> import torch
    >>> from focusmim.chapters.ch02_decorrelation import latent_stats
    >>> z = torch.relu(torch.randn(64, 8, 2, 2, generator=torch.Generator().manual_seed(0)))
    >>> s = latent_stats(z)
    >>> s["n"], s["d"], 0 < s["lifetime_sparsity"] < 1
    (64, 32, True)
"""
from __future__ import annotations

import torch

from focusmim.chapters import register
from focusmim.evaluation.claims import Claim
from focusmim.chapters.ch01_masking_strategy import STRATEGIES
from focusmim.data import load_for_config
from focusmim.experiments import Table, mean_std, provenance, runs_record, train_conditions
from focusmim.evaluation.metrics import decorrelation, lifetime_sparsity, population_sparsity
from focusmim.store.runs import Run, RunStore

__all__ = ["compute", "latent_stats", "run_latent_stats", "HELD_OUT", "STATS", "CLAIMS"]

NAME = "02_decorrelation"
HELD_OUT = 512  # test images in the fixed held-out batch (the paper's batch size)
STATS = ("decorrelation", "lifetime_sparsity", "population_sparsity")

# the paper's section 4.2, as tests on condition -> covariance term (lower = more decorrelated);
# each a per-seed comparison of the covariance term inside chapter 2's table (focusmim.evaluation.claims)
CLAIMS = {
    "periphery decorrelates more than foveal": Claim("masked periphery", "<", "foveal filter", column="decorrelation"),
    "patches decorrelate more than foveal": Claim("random patches", "<", "foveal filter", column="decorrelation"),
}


def latent_stats(z: torch.Tensor) -> dict:
    """Decorrelation and sparsity of latents ``z`` (N, ...) with N and d stated."""
    if not isinstance(z, torch.Tensor) or z.dim() < 2 or z.shape[0] < 2:
        raise ValueError("z must be a tensor (N, ...) with N >= 2; allowed: a batch of latents")
    flat = z.reshape(len(z), -1)
    return {
        "decorrelation": decorrelation(z),
        "lifetime_sparsity": lifetime_sparsity(z),
        "population_sparsity": population_sparsity(z),
        "dead_fraction": float((flat.amax(0) <= 0).double().mean()),
        "n": int(z.shape[0]),
        "d": int(flat.shape[1]),
    }


@torch.no_grad()
def run_latent_stats(run: Run, images: torch.Tensor, batch_size: int = 128) -> dict:
    """:func:`latent_stats` of a trained run's encoder on ``images`` (uint8 (N,3,H,W)),
    cached in the run's folder as ``latent-stats-n<N>.json``."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError("images must be a uint8 tensor (N,3,H,W); allowed: ImageSet.images[:N]")

    def compute() -> dict:
        model = run.load_model("best")
        z = torch.cat([model.encode(images[i:i + batch_size].float().div(255))
                       for i in range(0, len(images), batch_size)])
        return latent_stats(z)

    return run.cached_json(f"latent-stats-n{len(images)}.json", compute)


@register(NAME)
def compute(nb, store: RunStore | None = None, progress: bool = True) -> dict:
    """Chapter 2 for the notebook context ``nb``: ``table`` (per strategy: mean and
    std over pretraining seeds of every statistic in :data:`STATS`, with N and d),
    ``curves`` (strategy -> per-seed lists of the per-epoch decorrelation, with
    ``curve_n``, the held-out images used during training) and ``runs``."""
    store = store if store is not None else RunStore()
    runs = train_conditions(nb.base, STRATEGIES, seeds=nb.seeds, store=store, progress=progress)
    held = load_for_config(nb.base, "test").images[:HELD_OUT]
    table = Table("Decorrelation and sparsity of the latent units",
                  meta=provenance(nb.base, seeds=nb.seeds, held_out=len(held)))
    curves = {}
    for name, rs in runs.items():
        stats = [run_latent_stats(r, held) for r in rs]
        row = {"condition": name, "n": stats[0]["n"], "d": stats[0]["d"], "masker": rs[0].config.masker,
               **runs_record(rs)}
        for k in (*STATS, "dead_fraction"):
            row[f"{k}_mean"], row[f"{k}_std"] = mean_std([s[k] for s in stats])
            row[f"{k}_seeds"] = [s[k] for s in stats]  # one per pretraining seed (claims pair them)
        table.rows.append(row)
        curves[name] = [list(r.metrics.get("decorrelation", [])) for r in rs]
    curve_n = runs[next(iter(runs))][0].metrics.get("decorrelation_n")
    return {"table": table, "curves": curves, "curve_n": curve_n, "runs": runs}
