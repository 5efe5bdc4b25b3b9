"""The budget curve's prediction for longer runs, and how the runs that went longer measured against it.
"""
from __future__ import annotations
import math
from typing import Mapping, Sequence
from focusmim.experiments import Table
from focusmim.evaluation import prediction
from focusmim.evaluation.claims import seed_values, t_interval

from .claim_checks import table_rows
from .report_rows import _and, _cell, _possessive, _range


# the differences the prediction follows: (a, b) for a - b, paired by pretraining seed
PREDICTED_DIFFERENCES = (("random patches", "masked periphery"), ("masked periphery", "foveal filter"))


def _checkpoint_epochs(row: Mapping, main: Mapping | None) -> list[float]:
    """Each seed's epoch for a curve row: the nominal epoch, or for the lowest-loss checkpoint ('best') the
    epoch each seed's run reached it, where the main table's row records it (``decorrelation_epochs``) for the
    same seeds."""
    seeds = list(row.get("pretrain_seeds") or ())
    if row.get("checkpoint") == "best" and main is not None and list(main.get("pretrain_seeds") or ()) == seeds \
            and len(main.get("decorrelation_epochs") or ()) == len(seeds):
        return [float(e) for e in main["decorrelation_epochs"]]
    return [float(row["epoch"])] * len(seeds)


def _measured(rows: list[Mapping], a: str, b: str | None = None) -> dict | None:
    """The mean over pretraining seeds of ``a`` (or of a - b, paired by seed) in ``rows`` (one epoch's), with
    its 95 % interval; ``None`` when a condition has no per-seed values there."""
    by = {r["condition"]: r for r in rows}
    if a not in by or (b is not None and b not in by):
        return None
    va = seed_values(by[a])
    vb = seed_values(by[b]) if b is not None else {s: 0.0 for s in (va or {})}
    if not isinstance(va, dict) or not isinstance(vb, dict):
        return None
    diffs = [va[s] - vb[s] for s in sorted(set(va) & set(vb))]
    if not diffs:
        return None
    mean, lo, hi = t_interval(diffs)
    return {"mean": mean, "low": None if math.isnan(lo) else lo, "high": None if math.isnan(hi) else hi,
            "n": len(diffs)}


def longer_runs(curves: Table, main: Table | None = None, fit_epochs: Sequence[int] = prediction.FIT_EPOCHS,
                at: Sequence[int] = prediction.PREDICT_AT) -> dict:
    """Chapter 1's prediction for longer runs (:mod:`focusmim.evaluation.prediction`) from its budget curves
    (:func:`focusmim.chapters.ch01_masking_strategy.budget_curves`): every strategy's accuracy fitted per seed
    against ln(epochs) over the curve's rows at ``fit_epochs`` and predicted at ``at``, and the
    :data:`PREDICTED_DIFFERENCES` likewise (with where their lines cross). Rows of the curves at an epoch of
    ``at`` (a longer run) are the measurements, put beside the predictions (``measured``, ``against``: inside /
    above / below the predicted interval). ``main``: the chapter's table, for the epoch each seed's lowest-loss
    checkpoint was reached.

    Returns ``strategies`` and ``differences`` (lists of dicts), ``fit_epochs`` (those found), ``at``,
    ``best_epochs`` (the lowest-loss checkpoints' epochs) and ``method`` (in words); empty lists when the
    curves hold fewer than two of ``fit_epochs``."""
    main_rows = table_rows(main) if main is not None else {}
    fit_rows = [r for r in curves.rows if r.get("epoch") in fit_epochs and r.get("pretrain_seeds")
                and r.get("seed_accuracies")]
    found = sorted({r["epoch"] for r in fit_rows})
    out = {"strategies": [], "differences": [], "fit_epochs": found, "at": list(at), "best_epochs": [],
           "method": prediction.METHOD.format(fit=_and(found))}
    if len(found) < 2:
        return out
    points: dict[str, dict[int, list]] = {}
    measured_fit: dict[str, dict[int, float]] = {}
    for r in fit_rows:
        epochs = _checkpoint_epochs(r, main_rows.get(r["condition"]))
        if r.get("checkpoint") == "best":
            out["best_epochs"] += [int(e) for e in epochs]
        for s, e, v in zip(r["pretrain_seeds"], epochs, r["seed_accuracies"]):
            points.setdefault(r["condition"], {}).setdefault(s, []).append((e, v))
        measured_fit.setdefault(r["condition"], {})[r["epoch"]] = r["accuracy_mean"]
    fits = {c: prediction.seed_fits(pts) for c, pts in points.items()
            if all(len({e for e, _ in p}) >= 2 for p in pts.values())}
    later = {e: [r for r in curves.rows if r.get("epoch") == e] for e in at}
    for c, f in fits.items():
        pred = {e: prediction.predict(f, e) for e in at}
        meas = {e: _measured(later[e], c) for e in at}
        out["strategies"].append({
            "condition": c, "fits": f, "slope": sum(b for _, b in f.values()) / len(f),
            "measured_fit": measured_fit[c], "predicted": pred, "measured": meas,
            "against": {e: prediction.compare_measured(pred[e], (meas[e] or {}).get("mean")) for e in at}})
    last = max(found)
    for a, b in PREDICTED_DIFFERENCES:
        if a not in fits or b not in fits:
            continue
        d = prediction.difference_fits(fits[a], fits[b])
        if not d:
            continue
        pred = {e: prediction.predict(d, e) for e in at}
        meas = {e: _measured(later[e], a, b) for e in at}
        out["differences"].append({
            "a": a, "b": b, "fits": d, "predicted": pred, "measured": meas,
            "now": _measured([r for r in curves.rows if r.get("epoch") == last], a, b), "now_epoch": last,
            "crossing": prediction.crossing(d, after=last, up_to=max(at)),
            "against": {e: prediction.compare_measured(pred[e], (meas[e] or {}).get("mean")) for e in at}})
    return out


def _interval_text(p: Mapping | None, signed: bool = False) -> str:
    """``56.4 [53.6, 59.2] %`` (``signed``: ``+12.5 [+8.0, +17.0]``, points) of a mean and its interval."""
    if p is None:
        return ""
    f = (lambda v: f"{100 * v:+.1f}") if signed else (lambda v: f"{100 * v:.1f}")  # noqa: E731
    iv = f" [{f(p['low'])}, {f(p['high'])}]" if p.get("low") is not None else ""
    return f"{f(p['mean'])}{iv}" + ("" if signed else " %")


def _longer_runs_markdown(lr: Mapping, preset: str, budget: str) -> list[str]:
    """The section "A prediction for longer runs" from :func:`longer_runs`."""
    at = lr["at"]
    shown = [e for e in at if any(x["measured"][e] is not None for x in lr["strategies"] + lr["differences"])]
    best = sorted(set(lr["best_epochs"]))
    out = ["", "## A prediction for longer runs", "",
           f"**A prediction, not a result.** From chapter 1's budget curves ({preset} preset, {budget}): "
           f"{lr['method']}. "
           + (f"The {max(lr['fit_epochs'])}-epoch points are each run's lowest-loss checkpoint, at the epoch "
              f"its run reached it ({_range(best)}). " if best else "")
           + f"{len(lr['fit_epochs'])} points per seed extrapolated to {_and(at)} epochs "
           f"({max(at) / max(lr['fit_epochs']):.0f}x the longest measured) are a weak basis: the straight line in "
           "ln(epochs) is an assumption these few points cannot test, and the interval holds only the spread "
           "between pretraining seeds. When a run of "
           f"{_and(at, 'or')} epochs exists (a curve row at that epoch), its measurement appears beside the "
           "prediction, with whether it lies inside the predicted interval.", ""]
    fit = lr["fit_epochs"]
    head = ["condition", f"measured at {' / '.join(map(str, fit))} epochs", "slope (points per doubling)"]
    for e in at:
        head.append(f"predicted at {e} epochs")
        if e in shown:
            head.append(f"measured at {e} epochs")
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for x in lr["strategies"]:
        cells = [x["condition"], " / ".join(f"{100 * x['measured_fit'][e]:.1f}" if e in x["measured_fit"] else "–"
                                            for e in fit) + " %",
                 f"{100 * x['slope'] * math.log(2):+.1f}"]
        for e in at:
            cells.append(_interval_text(x["predicted"][e]))
            if e in shown:
                m = x["measured"][e]
                cells.append(f"{_interval_text(m)} ({x['against'][e]})" if m else "not run")
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if lr["differences"]:
        head = ["difference (points)", f"measured at {max(fit)} epochs"]
        for e in at:
            head.append(f"predicted at {e} epochs")
            if e in shown:
                head.append(f"measured at {e} epochs")
        head.append("where the lines cross (within " + f"{max(at)} epochs)")
        out += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for d in lr["differences"]:
            cells = [f"{d['a']} − {d['b']}", _interval_text(d["now"], signed=True)]
            for e in at:
                cells.append(_interval_text(d["predicted"][e], signed=True))
                if e in shown:
                    m = d["measured"][e]
                    cells.append(f"{_interval_text(m, signed=True)} ({d['against'][e]})" if m else "not run")
            cells.append(d["crossing"]["text"])
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        out.append("")
        for d in lr["differences"]:
            c = d["crossing"]
            lower, upper = (d["a"], d["b"]) if c["sign_now"] < 0 else (d["b"], d["a"])
            p = d["predicted"][max(at)]
            gap = (f"the {d['a']} − {d['b']} difference is predicted to be {_interval_text(p, signed=True)} points "
                   f"at {max(at)} epochs")
            lo_, up_ = _possessive(lower), _possessive(upper)
            if c["epochs"] is not None:
                verdict = (f"the {lo_} line passes the {up_} at about {c['epochs']:.0f} epochs: the gap is predicted "
                           f"to close within {max(at)} epochs")
            elif c["closing"]:
                verdict = (f"the {lo_} line gains on the {up_} but does not pass it within {max(at)} epochs: the gap "
                           "is predicted to narrow, not to close")
            else:
                verdict = f"the {lo_} line does not gain on the {up_}: the gap is predicted to widen, never to close"
            out.append(f"- Prediction: {verdict} ({gap}).")
    return out
