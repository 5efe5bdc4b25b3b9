"""Chapter 04: does the reconstruction loss need the background? (paper sections 3.7 and 4.4)

Two masking strategies (random patches, masked periphery) are each pretrained
twice: with the loss on every hidden pixel, and with the loss weighted by a
foreground confidence map (``Config.foreground``: the synthetic dataset's ground
truth ``'gt'``, or rembg's u2netp maps ``'rembg'``). Each run keeps its weights
after the epochs in ``nb.probe_epochs``, and the linear probe at every one of
them gives the accuracy-against-epoch curves of the paper's Fig. 5a/b. The
chapter also measures how good rembg's maps are (IoU against the synthetic ground
truth on a small sample) and how many images the paper's filter drops.

Example:
    >>> from focusmim.book.notebook import setup
    >>> from focusmim import chapters
    >>> nb = setup("04_object_loss", preset="smoke",
    ...            notebook_params=dict(foreground=None, probe_epochs=None))   # doctest: +SKIP
    >>> res = chapters.compute("04_object_loss", nb)                          # doctest: +SKIP
    >>> res["curves"].rows[0]["condition"]                                     # doctest: +SKIP
    'random patches, loss on everything'
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from focusmim.data import foreground as fg_maps
from focusmim.chapters import register
from focusmim.evaluation.claims import AllOf, Claim
from focusmim.config import Config
from focusmim.data import load_for_config
from focusmim.experiments import Table, provenance, summarise, train_conditions

__all__ = [
    "NAME",
    "STRATEGIES",
    "LOSSES",
    "resolve_foreground",
    "spread_positions",
    "resolve_probe_epochs",
    "object_base",
    "conditions",
    "accuracy_curves",
    "foreground_examples",
    "filter_counts",
    "compute",
    "agreement",
]

NAME = "04_object_loss"
STRATEGIES = {"random patches": dict(masker="random_patches"), "masked periphery": dict(masker="masked_periphery")}
LOSSES = ("everything", "object")  # loss on every hidden pixel vs weighted by the foreground map
FOREGROUND_CHOICES = ("gt", "rembg")


def resolve_foreground(foreground: str | None, dataset: str) -> str:
    """The foreground maps a chapter uses: ``None`` -> ``'gt'`` on the synthetic
    dataset (it has ground-truth maps), ``'rembg'`` elsewhere.

    Example:
        >>> resolve_foreground(None, "synthetic"), resolve_foreground(None, "stl10")
        ('gt', 'rembg')
        >>> resolve_foreground("gt", "cifar10")
        Traceback (most recent call last):
        ...
        ValueError: foreground='gt' is not allowed for dataset='cifar10'; allowed: 'rembg' (only 'synthetic' has ground-truth maps)
    """
    if foreground is None:
        return "gt" if dataset == "synthetic" else "rembg"
    if foreground not in FOREGROUND_CHOICES:
        raise ValueError(f"foreground={foreground!r} is not allowed; allowed: None, 'gt', 'rembg'")
    if foreground == "gt" and dataset != "synthetic":
        raise ValueError(f"foreground='gt' is not allowed for dataset={dataset!r}; allowed: 'rembg' "
                         "(only 'synthetic' has ground-truth maps)")
    return foreground


def resolve_probe_epochs(probe_epochs: Sequence[int] | None, epochs: int) -> tuple[int, ...]:
    """Sorted checkpoints to probe: the requested epochs that a run of ``epochs``
    reaches, plus the last epoch (so every curve ends at the finished run).

    Example:
        >>> resolve_probe_epochs((1, 2), 5), resolve_probe_epochs((50, 100, 250, 500), 100)
        ((1, 2, 5), (50, 100))
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} is not allowed; allowed: a whole number >= 1")
    vals = () if probe_epochs is None else tuple(probe_epochs)
    if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in vals):
        raise ValueError(f"probe_epochs={list(vals)!r} is not allowed; allowed: whole numbers >= 1 (or None)")
    return tuple(sorted({e for e in vals if e <= epochs} | {epochs}))


def object_base(nb) -> tuple[Config, str]:
    """The chapter's base config (snapshots at the probe epochs) and foreground mode.

    Chapter 05 uses the same base, so its masked-periphery run is chapter 04's."""
    fg = resolve_foreground(getattr(nb, "extra", {}).get("foreground"), nb.base.dataset)
    epochs = resolve_probe_epochs(getattr(nb, "extra", {}).get("probe_epochs"), nb.base.epochs)
    return nb.base.replace(snapshot_epochs=epochs), fg


def conditions(foreground: str) -> dict[str, dict]:
    """Condition name -> config overrides: each strategy with the loss on everything
    and on the object.

    Example:
        >>> sorted(conditions("gt"))[0], conditions("gt")["masked periphery, loss on the object"]["foreground"]
        ('masked periphery, loss on everything', 'gt')
    """
    if foreground not in FOREGROUND_CHOICES:
        raise ValueError(f"foreground={foreground!r} is not allowed; allowed: 'gt', 'rembg'")
    out = {}
    # with rembg's maps the paper's filter selects the pretraining images; both losses train on the same
    # selection (the maps then only choose images for 'everything'); ground-truth maps select nothing
    everything = dict(foreground="rembg", foreground_loss=False) if foreground == "rembg" else dict(foreground="none")
    for strategy, over in STRATEGIES.items():
        out[f"{strategy}, loss on everything"] = dict(over, **everything)
        out[f"{strategy}, loss on the object"] = dict(over, foreground=foreground)
    return out


def _split_name(name: str) -> tuple[str, str]:
    strategy, loss = name.split(", loss on ")
    return strategy, ("everything" if loss == "everything" else "object")


def accuracy_curves(runs: dict[str, list], probe_seeds: Sequence[int], epochs: Sequence[int]) -> list[dict]:
    """One row per (condition, epoch): the probe accuracy of the snapshot after that
    epoch (mean and std over pretraining seeds when there are several, else over
    probe seeds), with ``strategy`` and ``loss`` columns for plotting."""
    rows = []
    for name, rs in runs.items():
        strategy, loss = _split_name(name)
        for e in epochs:
            r = summarise(name, rs, probe_seeds, which=int(e))
            rows.append({"condition": name, "strategy": strategy, "loss": loss, "epoch": int(e),
                         "accuracy_mean": r["accuracy_mean"], "accuracy_std": r["accuracy_std"],
                         "accuracies": r["accuracies"], "knn": r["knn"], "pretrain_seeds": r["pretrain_seeds"],
                         "run_keys": r["run_keys"], "final_loss": r["final_loss"], "wall_time_s": r["wall_time_s"],
                         "device": r["device"],
                         "epochs": rs[0].config.epochs})
    return rows


def foreground_examples(cfg: Config, n: int = 6, run=None) -> dict:
    """``n`` pretraining images spread over the split and the foreground maps the runs weight
    the loss with: uint8 arrays ``images`` (n,3,H,W) and ``maps`` (n,1,H,W), and ``source``.
    The pretraining split has no labels, and splits stored in class order (CIFAR-10's
    folders) would show one class in their first images, so the examples come from ``n``
    evenly spaced places of the split (with rembg's maps: at each place the first image the
    paper's filter keeps). With ``run`` (a :class:`~focusmim.store.runs.Run` trained on this data)
    they are stored in its folder as an .npz (dtype and shape kept), so the figure is drawn
    again without the foreground maps' cache.

    Example:
        >>> from focusmim.config import make_config
        >>> ex = foreground_examples(make_config("smoke", foreground="gt", n_unlabeled=8), n=2)
        >>> ex["images"].dtype, ex["images"].shape, ex["maps"].shape, ex["source"]
        (dtype('uint8'), (2, 3, 32, 32), (2, 1, 32, 32), 'gt')
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not allowed; allowed: a whole number >= 1")
    if cfg.foreground == "none":
        raise ValueError("cfg.foreground='none' is not allowed here; allowed: 'gt', 'rembg'")

    def compute() -> dict:
        if cfg.foreground != "rembg":
            ds = load_for_config(cfg, "unlabeled")
            at = spread_positions(len(ds), n)
            return {"images": ds.images[at], "maps": ds.foreground[at]}
        # the filter is per image: maps of a few images at each place suffice (not of the whole split,
        # which takes u2netp half an hour on a CPU); a place where none passes gives no example
        ds = load_for_config(cfg.replace(foreground="none"), "unlabeled")
        window = 8
        starts = spread_positions(len(ds), n)
        cand = torch.cat([torch.arange(int(a), min(int(a) + window, len(ds))) for a in starts])
        fg = fg_maps.foreground_maps(ds.images[cand], progress=False)
        kept = fg_maps.keep_mask(fg)
        pick, start = [], 0
        for a in starts:
            k = min(int(a) + window, len(ds)) - int(a)
            hit = torch.nonzero(kept[start:start + k]).squeeze(1)
            if len(hit):
                pick.append(start + int(hit[0]))
            start += k
        pick = torch.tensor(pick, dtype=torch.long)
        return {"images": ds.images[cand][pick], "maps": fg[pick]}

    arrays = (run.cached_arrays(f"foreground-examples-spread-n{n}.npz", compute) if run is not None
              else {k: v.numpy() for k, v in compute().items()})
    return {**arrays, "source": cfg.foreground}


def spread_positions(length: int, n: int) -> torch.Tensor:
    """``n`` evenly spaced indices of a split of ``length`` images (all of them when fewer).

    Example:
        >>> spread_positions(10000, 5).tolist(), spread_positions(3, 5).tolist()
        ([0, 2000, 4000, 6000, 8000], [0, 1, 2])
    """
    k = min(n, length)
    return torch.arange(k, dtype=torch.long) * length // max(k, 1)


def filter_counts(cfg: Config, foreground: str, *, progress: bool = False, run=None) -> dict:
    """The paper's filter (at most 100 confident pixels per 96x96 image, scaled to the
    image size) on the maps of the whole pretraining split, before any filtering.

    With ``'rembg'`` this reads the same cache the training data used (computing the
    maps if they are not there yet). With ``run`` the counts are cached in its folder."""
    resolve_foreground(foreground, cfg.dataset)
    if run is not None:
        return run.cached_json(f"filter-counts-{foreground}.json",
                               lambda: filter_counts(cfg, foreground, progress=progress))

    if foreground == "gt":
        ds = load_for_config(cfg.replace(foreground="gt"), "unlabeled")
        fg = ds.foreground
    else:
        ds = load_for_config(cfg.replace(foreground="none"), "unlabeled")
        path = fg_maps.foreground_cache_path(ds.images, ds.name or cfg.dataset)
        fg = fg_maps.foreground_maps(ds.images, cache_path=path, progress=progress)
    return dict(fg_maps.filter_report(fg), source=foreground, split="unlabeled", dataset=cfg.dataset)


@register(NAME)
def compute(nb, store=None, *, progress: bool = True, iou_n: int | None = None) -> dict:
    """Train (or reuse) the four conditions, probe every snapshot, measure the maps.

    Returns ``curves`` (a Table, one row per condition and epoch), ``final`` (the
    last epoch's rows), ``examples`` (images and the maps used for the loss),
    ``segmentation`` (rembg vs ground truth), ``filter`` (drop counts), and
    ``foreground`` / ``probe_epochs`` (what was resolved).
    """
    t0 = time.perf_counter()
    base, fg = object_base(nb)
    epochs = base.snapshot_epochs
    extra = getattr(nb, "extra", {})
    iou_n = iou_n if iou_n is not None else extra.get("iou_n") or (12 if nb.preset == "smoke" else 64)
    conds = conditions(fg)
    runs = train_conditions(base, conds, nb.seeds, store, progress)
    table = Table("linear probe accuracy during pretraining: loss on everything vs on the object",
                  meta=provenance(base, seeds=nb.seeds, probe_seeds=nb.probe_seeds, probe_epochs=epochs,
                                  foreground=fg))
    table.rows = accuracy_curves(runs, nb.probe_seeds, epochs)
    table.meta["seconds"] = time.perf_counter() - t0
    table.meta["wall_time_s"] = sum(r.metrics.get("wall_time_s", 0.0) for rs in runs.values() for r in rs)
    final = [r for r in table.rows if r["epoch"] == epochs[-1]]
    shown = runs[f"{next(iter(STRATEGIES))}, loss on the object"][0]  # holds the examples and filter counts
    return {
        "curves": table,
        "final": final,
        "runs": runs,
        "foreground": fg,
        "probe_epochs": epochs,
        "examples": foreground_examples(shown.config, run=shown),
        "segmentation": fg_maps.segmentation_quality(iou_n),
        "filter": filter_counts(base, fg, run=shown),
    }


# the paper's claim for the results page (focusmim.book.report): (table column, test on condition -> value)
CLAIMS = {
    "the object-only loss does not hurt": AllOf(tuple(
        Claim(f"{s}, loss on the object", ">=", f"{s}, loss on everything", 0.02) for s in STRATEGIES)),
}


def agreement(final_rows: list[dict], tolerance: float = 0.02) -> dict[str, Any]:
    """Our reading of the paper's two claims from the last epoch's rows.

    ``'object loss does not hurt'``: for each strategy, accuracy with the loss on the
    object is at least that with the loss on everything minus ``tolerance``.
    ``'patches profit more'``: the gain from the object loss is larger for random
    patches than for the masked periphery.

    Example:
        >>> rows = [dict(strategy=s, loss=l, accuracy_mean=a) for s, l, a in [
        ...     ("random patches", "everything", .60), ("random patches", "object", .64),
        ...     ("masked periphery", "everything", .58), ("masked periphery", "object", .585)]]
        >>> agreement(rows)["object loss does not hurt"], agreement(rows)["patches profit more"]
        (True, True)
    """
    acc = {(r["strategy"], r["loss"]): r["accuracy_mean"] for r in final_rows}
    gains = {s: acc[(s, "object")] - acc[(s, "everything")] for s in STRATEGIES
             if (s, "object") in acc and (s, "everything") in acc}
    out: dict[str, Any] = {"gains": gains}
    out["object loss does not hurt"] = bool(gains) and all(g >= -tolerance for g in gains.values())
    if len(gains) == 2:
        out["patches profit more"] = gains["random patches"] > gains["masked periphery"]
    return out
