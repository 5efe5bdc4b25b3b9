"""The words beside every table and figure, generated from what the shown runs recorded (never typed):
the budget behind the numbers (:func:`budget_caption`) and a sentence that places them against chance
(:func:`budget_note`).

    >>> from focusmim.experiments.captions import budget_caption
    >>> budget_caption({"dataset": "cifar10", "image_size": 32, "epochs": 6, "device_name": "CPU", "wall_time_s": 90})
    'cifar10 32 px, 6 epochs, trained on CPU, 1.5 min'
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from focusmim.experiments import training_budget

__all__ = ["shown_budget", "budget_caption", "budget_note", "weights_note"]

_EXECUTING = ("device", "device_name", "wall_time_s", "seconds", "precision")


def shown_budget(shown: Any) -> dict:
    """The budget behind what a table or figure shows, read from what its runs recorded.

    ``shown`` is a :class:`~focusmim.experiments.Table` or its ``meta``. A table's rows
    (one per condition, from :func:`~focusmim.experiments.summarise`) carry each run's
    ``device``, ``wall_time_s``, ``epochs`` and ``pretrain_seeds``; these replace the
    meta's fields, which describe the machine that executed the notebook (the runs may
    have been trained elsewhere and read back from the store). Rows listing the same
    runs (one per probed epoch) count once.

    Example:
        >>> from focusmim.experiments import Table
        >>> t = Table("t", [dict(run_keys=["a"], device="NVIDIA H100", wall_time_s=60.0, epochs=10, pretrain_seeds=[0]),
        ...                 dict(run_keys=["b"], device="NVIDIA H100", wall_time_s=60.0, epochs=10, pretrain_seeds=[1])],
        ...           meta={"dataset": "cifar10", "device_name": "CPU", "seeds": [0, 1, 2]})
        >>> b = shown_budget(t)
        >>> b["device_name"], b["wall_time_s"], b["epochs"], b["seeds"]
        ('NVIDIA H100', 120.0, 10, [0, 1])
    """
    if not isinstance(shown, Mapping) and not hasattr(shown, "meta"):
        raise ValueError(f"shown={type(shown).__name__} is not allowed; allowed: a Table or a mapping (its meta)")
    meta = dict(getattr(shown, "meta", shown) or {})
    rows, seen = [], set()
    for r in getattr(shown, "rows", None) or []:
        key = tuple(r.get("run_keys") or ()) or id(r)
        if key not in seen:
            seen.add(key)
            rows.append(r)
    trained = [r for r in rows if r.get("device")]
    if trained:
        for k in _EXECUTING:
            meta.pop(k, None)
        meta.update(training_budget(trained))
    epochs = sorted({int(e) for r in rows if r.get("epochs") is not None
                     for e in (r["epochs"] if isinstance(r["epochs"], (list, tuple)) else [r["epochs"]])
                     if int(e) > 0})  # 0: a baseline without pretraining (raw pixels)
    if epochs:
        meta["epochs"] = epochs[0] if len(epochs) == 1 else epochs
    seeds = sorted({int(s) for r in rows for s in (r.get("pretrain_seeds") or ())})
    if seeds:
        meta.pop("pretraining seeds", None)
        meta["seeds"] = seeds
    return meta


def budget_caption(shown: Any) -> str:
    """One line saying what the shown numbers cost, generated from :func:`shown_budget`:
    dataset and size, pretraining images, epochs, seeds, where the runs were trained,
    their wall time.

    Example:
        >>> budget_caption({"dataset": "stl10", "image_size": 96, "n_unlabeled": None, "epochs": 500,
        ...                 "seeds": [0], "device_name": "NVIDIA H100", "wall_time_s": 7200})
        'stl10 96 px, all unlabeled images, 500 epochs, pretraining seeds [0], trained on NVIDIA H100, 2.0 h'
    """
    meta = shown_budget(shown)
    parts = []
    if meta.get("dataset"):
        size = meta.get("image_size")
        parts.append(f"{meta['dataset']}{f' {size} px' if size else ''}")
    if "n_unlabeled" in meta:
        n = meta["n_unlabeled"]
        parts.append("all unlabeled images" if n in (None, "", "all") else f"{n:,} unlabeled images"
                     if isinstance(n, int) else f"{n} unlabeled images")
    ep = meta.get("epochs")
    if ep is not None:
        parts.append(f"{ep[0]}-{ep[-1]} epochs" if isinstance(ep, list) else f"{ep} epochs")
    seeds = meta.get("seeds", meta.get("pretraining seeds"))
    if seeds is not None:
        parts.append(f"pretraining seeds {list(seeds)}")
    probe = meta.get("probe_seeds", meta.get("probe seeds"))
    if probe is not None:
        parts.append(f"probe seeds {list(probe)}")
    dev = meta.get("device_name") or meta.get("device")
    if dev:
        parts.append(f"trained on {dev}")
    if meta.get("precision") and "bf16" in str(meta["precision"]):  # fp32, the default, goes unsaid
        parts.append(str(meta["precision"]))
    secs = meta.get("wall_time_s", meta.get("seconds"))
    if secs is not None and not (isinstance(secs, float) and math.isnan(secs)):
        secs = float(secs)
        parts.append(f"{secs / 3600:.1f} h" if secs >= 3600 else f"{secs / 60:.1f} min" if secs >= 60
                     else f"{secs:.0f} s")
    return ", ".join(parts)


def budget_note(shown: Any, *, column: str = "accuracy_mean", chance: float = 0.1, margin: float = 0.05) -> str:
    """A sentence for beside a table of probe accuracies, generated from its numbers and
    budget (never written by hand): the budget, the accuracies' range, and whether they
    are near ``chance`` (within ``margin``), so that the checks that follow say little.

    Example:
        >>> from focusmim.experiments import Table
        >>> t = Table("t", [dict(accuracy_mean=0.12), dict(accuracy_mean=0.13)], meta={"dataset": "synthetic", "epochs": 2})
        >>> budget_note(t)
        'These numbers come from synthetic, 2 epochs. Probe accuracies 12.0-13.0 % against 10 % chance: near chance, so the checks below say little about the paper.'
    """
    vals = [float(r[column]) for r in getattr(shown, "rows", []) if r.get(column) is not None
            and not (isinstance(r[column], float) and math.isnan(r[column]))]
    text = f"These numbers come from {budget_caption(shown)}."
    if vals:
        lo, hi = min(vals), max(vals)
        near = sum(v < chance + margin for v in vals)
        verdict = ("near chance, so the checks below say little about the paper" if near == len(vals) else
                   f"{near} of {len(vals)} near chance (within {100 * margin:.0f} points), so those say little"
                   if near else
                   "above chance, though far below the paper's budget (500 epochs on 100,000 STL-10 images at 96 px)")
        text += f" Probe accuracies {100 * lo:.1f}-{100 * hi:.1f} % against {100 * chance:.0f} % chance: {verdict}."
    return text


def weights_note(records: Any, *, short: bool = False) -> str:
    """Whose weights drew a figure, from the ``"weights"`` records cached with its images (one record or
    several; "" when none says anything: a run's own checkpoint needs no note). Two kinds:

    - the zoo's model of the run (:func:`focusmim.store.zoo.weights_record`, what :meth:`focusmim.store.runs.Run.load_model`
      loads when the run's own weights are not kept): its name, run key and the stored precision;
    - a retrain of the shown run's config on another machine (records cached before the zoo existed: their
      ``device`` and ``final_loss`` beside the shown run's ``shown_device`` and ``shown_final_loss``).

    ``short``: a few words for a label.

    Example:
        >>> weights_note({"zoo": "imagenette96-masked-periphery", "key": "d271256826ea1903", "precision": "fp16"})
        'drawn by the zoo model imagenette96-masked-periphery (run d271256826ea1903, fp16 weights)'
        >>> weights_note([{"device": "CPU", "final_loss": 0.0291, "shown_device": "NVIDIA H100",
        ...                "shown_final_loss": 0.0290}])
        'drawn by a retrain of the same config on CPU (the NVIDIA H100 run shown kept no weights); final training loss within 0.3 % of that run'
        >>> weights_note({"device": "CPU", "shown_device": "NVIDIA H100"}, short=True), weights_note(None)
        ('by a retrain on CPU', '')
    """
    recs = [records] if isinstance(records, Mapping) else [r for r in records or () if r]
    recs = [r for r in recs if isinstance(r, Mapping)]
    zoo = [r for r in recs if r.get("zoo")]
    retrains = [r for r in recs if not r.get("zoo") and "shown_device" in r]
    parts = []
    if zoo:
        many = len(zoo) > 1
        names = ", ".join(f"{r['zoo']} (run {r.get('key', '?')})" if many else str(r["zoo"]) for r in zoo)
        precision = " + ".join(sorted({str(r.get("precision") or "stored") for r in zoo}))
        if short:
            parts.append(f"by the zoo model{'s' * many} {', '.join(str(r['zoo']) for r in zoo)} ({precision})")
        elif many:
            parts.append(f"drawn by the zoo models {names} ({precision} weights)")
        else:
            parts.append(f"drawn by the zoo model {names} (run {zoo[0].get('key', '?')}, {precision} weights)")
    if retrains:
        many = len(retrains) > 1
        devices = " + ".join(sorted({str(r.get("device") or "an unrecorded device") for r in retrains}))
        if short:
            parts.append(f"by {'retrains' if many else 'a retrain'} on {devices}")
        else:
            shown = " + ".join(sorted({str(r.get("shown_device") or "unrecorded device") for r in retrains}))
            text = (f"drawn by {'retrains' if many else 'a retrain'} of the same config{'s' * many} on {devices} "
                    f"(the {shown} run{'s' * many} shown kept no weights)")
            gaps = [abs(float(r["final_loss"]) - float(r["shown_final_loss"])) / abs(float(r["shown_final_loss"]))
                    for r in retrains if r.get("final_loss") is not None and r.get("shown_final_loss")]
            if gaps:
                text += (f"; final training loss within {100 * max(gaps):.1f} % of "
                         f"{'those runs' if many else 'that run'}")
            parts.append(text)
    return "; ".join(parts)
