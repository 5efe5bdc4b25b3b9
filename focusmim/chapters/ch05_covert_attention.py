"""Chapter 05: covert attention, a second visible disc (paper sections 3.7 and 4.5).

A model pretrained with the masked periphery and the foreground-weighted loss
(chapter 04's run) is shown held-out test images twice: with the plain periphery
mask, and with a second visible disc centred on the object (the covert-attention
input; the disc's centre is the confidence-weighted centroid of the most confident
foreground pixels, see :func:`focusmim.masking.discs.object_centers`). Its prediction
error restricted to the foreground says whether it uses the extra glimpse (paper:
2.6e-2 without, 2.3e-2 with). The chapter then
pretrains with the second disc (placed at random, or on the object) and compares
the linear-probe accuracy with pretraining without it.

Every number that needs a trained model is cached in the run's folder
(:meth:`focusmim.store.runs.Run.cached_json`).

Example:
    >>> import torch
    >>> pred = torch.zeros(1, 3, 2, 2); target = torch.ones(1, 3, 2, 2)
    >>> fg = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    >>> float(foreground_error(pred, target, fg))
    1.0
"""
from __future__ import annotations

import time

import torch

from focusmim.data import foreground as fg_maps
from focusmim import masking
from focusmim.experiments.captions import weights_note
from focusmim.chapters import register
from focusmim.evaluation.claims import Claim
from focusmim.config.schemas import OBJECT_DISC_VERSION
from focusmim.chapters.ch01_masking_strategy import OLDER_EXAMPLES, read_examples
from focusmim.chapters.ch04_object_loss import object_base
from focusmim.data import load_for_config
from focusmim.data.base import spread_over_classes
from focusmim.experiments import Table, mean_std, provenance, runs_record, summarise, train_conditions
from focusmim.evaluation.metrics import as_weight, foreground_error
from focusmim.evaluation.paper import PAPER_COVERT_ERROR
from focusmim.store.runs import RunStore

__all__ = [
    "NAME",
    "lattice_share",
    "training_steps",
    "longer_trained",
    "PROBE_CONDITIONS",
    "REGIONS",
    "covert_inputs",
    "evaluate_errors",
    "reconstructions",
    "probe_conditions",
    "compute",
    "agreement",
    "ARGMAX_NOTE",
]

NAME = "05_covert_attention"
PROBE_CONDITIONS = {
    "no second disc": dict(masker="masked_periphery"),
    "second disc at random": dict(masker="covert_attention", masker_params={"placement": "random"}),
    "second disc on the object": dict(masker="covert_attention", masker_params={"placement": "object"}),
}
# The disc on the object moved from the first most confident pixel (argmax, the object's top edge on
# saturated rembg maps) to the centroid of the most confident pixels (issue 30): evaluations cached
# under the older names used the argmax. Without the run's weights to redo them, they are shown with
# this note instead.
ARGMAX_NOTE = ("second disc at the first most confident pixel (the object's top edge), from before it moved "
               "to the object's centre; no weights here to redo it")
# where the error is measured: the whole foreground (the same pixels for both inputs),
# or only the foreground pixels hidden in both inputs (the visible disc excluded)
REGIONS = ("foreground", "foreground hidden in both")


def covert_inputs(x: torch.Tensor, foreground: torch.Tensor, ratio: float = 0.8):
    """The plain periphery input and the covert-attention input (second disc on the object:
    the confidence-weighted centroid of the foreground pixels within 1 % of the map's maximum,
    :func:`focusmim.masking.discs.object_centers`) of a batch: two :class:`~focusmim.masking.MaskOutput`.

    Example:
        >>> import torch
        >>> x = torch.rand(2, 3, 32, 32); fg = torch.zeros(2, 1, 32, 32); fg[:, :, 3, 4] = 1
        >>> plain, cov = covert_inputs(x, fg)
        >>> bool(cov.visible[:, :, 3, 4].all()), bool(plain.visible[:, :, 3, 4].any())
        (True, False)
    """
    fg = as_weight(foreground, "foreground", (x.shape[0], 1, *x.shape[2:]))
    plain = masking.build("masked_periphery", ratio=ratio)(x, None)
    cov = masking.build("covert_attention", ratio=ratio, placement="object")(x, None, foreground=fg)
    return plain, cov


def _ratio(cfg) -> float:
    return float(cfg.ratio) if cfg.ratio is not None else 0.8


def _test_batch(cfg, n: int, *, spread: bool = False):
    """The first ``n`` test images and their foreground maps (floats in [0, 1]); with
    ``spread``, ``n`` images spread over the classes instead (for figures)."""
    if spread:
        ds = load_for_config(cfg.replace(foreground="none" if cfg.foreground == "rembg" else cfg.foreground), "test")
        ds = ds.subset(spread_over_classes(ds.labels, n))
        if cfg.foreground == "rembg":
            ds = fg_maps.attach_foreground(ds, cfg, drop=False, progress=False)
        return ds.images.float() / 255.0, ds.foreground.float() / 255.0

    if cfg.foreground not in ("gt", "rembg"):
        raise ValueError(f"the run's config has foreground={cfg.foreground!r}; allowed: 'gt' or 'rembg' "
                         "(the error is measured on the foreground)")
    if cfg.foreground == "gt":
        ds = load_for_config(cfg, "test")
    else:  # rembg maps for the first n test images only (not the whole split: u2netp is slow on a CPU)
        ds = fg_maps.split_with_maps(cfg, "test", n, progress=False)
    n = min(n, len(ds))
    return ds.images[:n].float() / 255.0, ds.foreground[:n].float() / 255.0


@torch.no_grad()
def _recon(model, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    return torch.cat([model(x[i:i + batch_size])[0].float() for i in range(0, len(x), batch_size)])


def evaluate_errors(run, n: int = 512, which: str | int = "best") -> dict:
    """Foreground prediction errors of a run's model on ``n`` test images, with the
    plain periphery input and with the second disc on the object (cached in the run).

    Returns ``{"plain": {region: error}, "covert": {region: error}, "n": ...}`` for
    the regions in :data:`REGIONS`, plus per-image values of the first region.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not allowed; allowed: a whole number >= 1")

    def compute() -> dict:
        cfg = run.config
        t0 = time.perf_counter()
        x, fg = _test_batch(cfg, n)
        plain, cov = covert_inputs(x, fg, _ratio(cfg))
        model = run.load_model(which)
        hidden_both = (~plain.visible) & (~cov.visible)
        out = {"n": len(x), "which": which, "ratio": _ratio(cfg), "config_key": cfg.key()}
        for key, mo in (("plain", plain), ("covert", cov)):
            rec = _recon(model, mo.inputs)
            out[key] = {"foreground": float(foreground_error(rec, x, fg)),
                        "foreground hidden in both": float(foreground_error(rec, x, fg, hidden_both))}
            out[key + "_per_image"] = foreground_error(rec, x, fg, per_image=True).tolist()
        out["seconds"] = time.perf_counter() - t0
        return out

    return run.cached_json_or_older(f"covert-error-centroid-{which}-n{n}.json", compute,
                                    f"covert-error-{which}-n{n}.json", ARGMAX_NOTE)


def reconstructions(run, n: int = 4, which: str | int = "best") -> dict:
    """Target, foreground, both inputs and both reconstructions of ``n`` test images spread
    over the classes (uint8 nested lists (n, 3, H, W); cached in the run) for the Fig. 6
    analogue."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not allowed; allowed: a whole number >= 1")

    def compute() -> dict:
        x, fg = _test_batch(run.config, n, spread=True)
        plain, cov = covert_inputs(x, fg, _ratio(run.config))
        model = run.load_model(which)
        u8 = lambda t: (t.clamp(0, 1) * 255).round().to(torch.uint8).tolist()  # noqa: E731
        return {"target": u8(x), "foreground": u8(fg), "plain_input": u8(plain.inputs),
                "plain_recon": u8(_recon(model, plain.inputs)), "covert_input": u8(cov.inputs),
                "covert_recon": u8(_recon(model, cov.inputs)), "which": which}

    # older caches, newest first: class-spread examples with the argmax disc, then the first test images
    older = [(f"covert-recon-{which}-classes-n{n}.json", ARGMAX_NOTE),
             (f"covert-recon-{which}-n{n}.json", f"{OLDER_EXAMPLES}; {ARGMAX_NOTE}")]
    name, note = next(((o, t) for o, t in older if (run.dir / o).exists()), older[0])
    return run.cached_json_or_older(f"covert-recon-centroid-{which}-classes-n{n}.json", compute, name, note)


def probe_conditions(foreground: str) -> dict[str, dict]:
    """Condition name -> config overrides for the probe comparison (every condition
    with the foreground-weighted loss, so 'no second disc' is chapter 04's run).

    Example:
        >>> probe_conditions("gt")["second disc on the object"]["masker_params"]
        {'placement': 'object'}
    """
    if foreground not in ("gt", "rembg"):
        raise ValueError(f"foreground={foreground!r} is not allowed; allowed: 'gt', 'rembg'")
    return {k: dict(v, foreground=foreground) for k, v in PROBE_CONDITIONS.items()}


def _error_rows(runs: dict[str, list], n: int) -> list[dict]:
    rows = []
    for name, rs in runs.items():
        evals = [evaluate_errors(r, n) for r in rs]
        for inp, label in (("plain", "periphery only"), ("covert", "periphery + disc on the object")):
            row = {"condition": f"{name} | {label}", "model": name, "input": label, "n": evals[0]["n"],
                   **runs_record(rs)}
            if any(e.get("older") for e in evals):
                row["older"] = next(e["older"] for e in evals if e.get("older"))
            for reg in REGIONS:
                vals = [e[inp][reg] for e in evals]
                if len(vals) > 1:
                    row[f"{reg} mean"], row[f"{reg} std"] = mean_std(vals)
                else:  # one pretraining seed: the spread is over test images (standard error)
                    per = torch.tensor(evals[0][inp + "_per_image"], dtype=torch.float64)
                    per = per[~per.isnan()]
                    row[f"{reg} mean"] = vals[0]
                    row[f"{reg} std"] = (float(per.std() / len(per) ** 0.5) if reg == REGIONS[0] and len(per) > 1
                                         else 0.0)
                row[f"{reg} values"] = vals
            rows.append(row)
    return rows


def lattice_share(images) -> float:
    """How much of an image's structure is a dot lattice of period 2 px: the share of its
    spectral power (mean removed per image and channel) on the Nyquist row and column,
    averaged over images and channels. About 0 for photographs; the decoder's last block
    adds its 1x1 stride-2 transposed skip on every second pixel only (as
    ``nn.ConvTranspose2d`` does), so an under-trained decoder leaves such a lattice.

    ``images``: (N,C,H,W) uint8 (or integer lists, as JSON stores them) or floats in [0, 1].

    Example:
        >>> import numpy as np
        >>> lattice = np.zeros((1, 3, 8, 8), np.uint8); lattice[..., ::2, ::2] = 255
        >>> smooth = np.tile(np.linspace(0, 255, 8, dtype=np.uint8), (1, 3, 8, 1))
        >>> round(lattice_share(lattice), 2), round(lattice_share(smooth), 2)
        (1.0, 0.05)
    """
    import numpy as np

    a = np.asarray(images)
    a = a.astype(np.float64) / 255.0 if np.issubdtype(a.dtype, np.integer) else a.astype(np.float64)
    if a.ndim != 4 or a.shape[-1] % 2 or a.shape[-2] % 2:
        raise ValueError(f"images has shape {a.shape}; allowed: (N,C,H,W) with even H and W")
    a = a - a.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fft2(a)) ** 2
    h, w = a.shape[-2:]
    nyquist = power[..., h // 2, :].sum(-1) + power[..., :, w // 2].sum(-1) - power[..., h // 2, w // 2]
    return float((nyquist / np.maximum(power.sum((-2, -1)), 1e-12)).mean())


def training_steps(run) -> int:
    """About how many optimiser steps a finished run took: the images it saw (its
    recorded images per second times seconds per epoch) over the batch size."""
    return _steps(run.metrics, run.config.batch_size)


def _steps(metrics: dict, batch_size: int) -> int:
    seen = sum(i * t for i, t in zip(metrics.get("images_per_s", []), metrics.get("epoch_time", [])))
    return int(round(seen / batch_size))


def longer_trained(run, store) -> tuple[str, int, dict] | None:
    """Among the finished runs in ``store`` with the same data, size, model and masker as
    ``run`` and cached reconstructions (chapter 1's ``reconstructions-*.json`` or ``.npz``), the one
    that took the most optimiser steps, if more than ``run``: ``(its key, its steps, its
    reconstructions)``, else None. Reads the stored JSON only (no checkpoint, no data)."""
    import json

    best, best_steps = None, training_steps(run)
    want = {k: getattr(run.config, k) for k in ("dataset", "image_size", "masker", "model")}
    root = getattr(store, "root", None)
    for d in sorted(root.iterdir()) if root is not None and root.exists() else []:
        # class-spread examples (named with their images' digest) before older ones
        cached = sorted([*d.glob("reconstructions-*.json"), *d.glob("reconstructions-*.npz")],
                        key=lambda p: (len(p.stem.split("-")) < 4, p.name))
        if not cached or not (d / "config.json").exists() or not (d / "metrics.json").exists():
            continue
        cfg, metrics = json.loads((d / "config.json").read_text()), json.loads((d / "metrics.json").read_text())
        if any(cfg.get(k) != v for k, v in want.items()) or not metrics.get("finished"):
            continue
        steps = _steps(metrics, cfg["batch_size"])
        if steps > best_steps:
            best, best_steps = (d.name, steps, read_examples(cached[0])), steps
    return best


@register(NAME)
def compute(nb, store=None, *, progress: bool = True, n_eval: int | None = None, n_show: int = 4) -> dict:
    """Train (or reuse) the three conditions, measure the errors, probe them.

    Returns ``errors`` (Table: model x input, errors per region), ``probe`` (Table:
    accuracy per condition), ``recon`` (Fig. 6 arrays from the periphery model),
    ``foreground`` and ``runs``.
    """
    t0 = time.perf_counter()
    base, fg = object_base(nb)
    extra = getattr(nb, "extra", {})
    n_eval = n_eval or extra.get("n_eval") or (128 if nb.preset == "smoke" else 1024)
    conds = probe_conditions(fg)
    runs = train_conditions(base, conds, nb.seeds, store, progress)
    meta = provenance(base, seeds=nb.seeds, probe_seeds=nb.probe_seeds, foreground=fg, n_eval=n_eval)
    errors = Table("foreground prediction error on held-out images", _error_rows(runs, n_eval),
                   dict(meta, object_disc_rule=OBJECT_DISC_VERSION))  # where the disc on the object goes
    older = sorted({r["older"] for r in errors.rows if r.get("older")})
    if older:  # some errors were measured with the disc at the argmax (see ARGMAX_NOTE)
        errors.meta["older"] = older
    probe = Table("linear probe: second disc during pretraining", meta=dict(meta))
    probe.rows = [summarise(name, rs, nb.probe_seeds, "best") for name, rs in runs.items()]
    shown = runs["no second disc"][0]
    recon = reconstructions(shown, n_show)
    longer = longer_trained(shown, store if store is not None else RunStore())
    errors.meta["seconds"] = probe.meta["seconds"] = time.perf_counter() - t0
    pretrain_s = sum(r.metrics.get("wall_time_s", 0.0) for rs in runs.values() for r in rs)
    errors.meta["wall_time_s"] = probe.meta["wall_time_s"] = pretrain_s
    # the reconstructions' dot lattice against a run of the same masker that trained longer
    lattice = {"this chapter's model": (training_steps(shown), lattice_share(recon["plain_recon"])),
               "targets": (None, lattice_share(recon["target"]))}
    if longer is not None:
        # whose weights drew that run's images when its own were not kept (the zoo's model, or a retrain)
        drawn = weights_note(longer[2].get("weights"), short=True)
        drawn = f"; images {drawn}" if drawn else ""
        lattice[f"the same masker trained longer (run {longer[0]}{drawn})"] = (
            longer[1], lattice_share(longer[2]["reconstruction"]))
    return {"errors": errors, "probe": probe, "recon": recon, "runs": runs, "foreground": fg,
            "n_eval": n_eval, "paper": dict(PAPER_COVERT_ERROR), "longer": longer, "lattice": lattice}


# the paper's claim for the results page (focusmim.book.report): a periphery-trained model's error on the
# foreground drops when a second visible disc is placed on the object
CLAIMS = {
    "covert attention lowers foreground error": Claim("no second disc | periphery + disc on the object", "<",
                                                      "no second disc | periphery only", column="foreground"),
}


def agreement(errors: Table, probe: Table, model: str = "no second disc", tolerance: float = 0.02) -> dict:
    """Our reading of the paper's claims: the extra disc lowers the foreground error
    of ``model`` (whole foreground, and hidden pixels only), and pretraining with the
    disc changes the probe accuracy by less than ``tolerance``.

    Example:
        >>> from focusmim.experiments import Table
        >>> e = Table("e", [{"model": "m", "input": "periphery only", "foreground mean": .03,
        ...                  "foreground hidden in both mean": .03},
        ...                 {"model": "m", "input": "periphery + disc on the object", "foreground mean": .02,
        ...                  "foreground hidden in both mean": .029}])
        >>> p = Table("p", [{"condition": "m", "accuracy_mean": .5}, {"condition": "x", "accuracy_mean": .51}])
        >>> a = agreement(e, p, model="m"); a["disc lowers the error"], a["probe unchanged"]
        (True, True)
    """
    rows = {r["input"]: r for r in errors.rows if r["model"] == model}
    if len(rows) != 2:
        raise ValueError(f"model={model!r} is not in the error table; allowed: "
                         f"{sorted({r['model'] for r in errors.rows})}")
    plain, cov = rows["periphery only"], rows["periphery + disc on the object"]
    out = {f"error {k}": (plain[f"{k} mean"], cov[f"{k} mean"]) for k in REGIONS}
    out["disc lowers the error"] = cov["foreground mean"] < plain["foreground mean"]
    out["disc lowers the error on hidden pixels"] = (cov["foreground hidden in both mean"]
                                                     < plain["foreground hidden in both mean"])
    accs = {r["condition"]: r["accuracy_mean"] for r in probe.rows}
    ref = accs.get(model)
    out["probe differences"] = {k: v - ref for k, v in accs.items() if k != model} if ref is not None else {}
    out["probe unchanged"] = bool(out["probe differences"]) and all(
        abs(d) < tolerance for d in out["probe differences"].values())
    return out
