"""The book's results summary, generated from the stored tables.

``write_summary(path)`` reads every table under ``results/<preset>/`` (see
:func:`focusmim.notebook.load_tables`), keeps the largest-budget preset of each,
and writes the results page: a compact headline table (each condition the paper
reports, ours beside the paper's STL-10 number, with the budget behind ours), one
figure of the same, and the paper's claims with whether our numbers support them.
Every condition of every table, internal checks included (learning-rate checks,
synthetic runs), goes to an appendix page beside it (``<name>_appendix.md``).

Example:
    >>> t = Table("t", [{"condition": "random patches", "seed_accuracies": [.52, .50, .53], "pretrain_seeds": [0, 1, 2]},
    ...                 {"condition": "masked periphery", "seed_accuracies": [.43, .38, .40], "pretrain_seeds": [0, 1, 2]}])
    >>> print(claims_text(t, ["patches >= periphery", "blur hurts patches"]))
    - patches >= periphery [random patches >= masked periphery - 1 point]: holds (difference +11.3 points, 95 % interval [+6.2, +16.5], 3 pretraining seeds)
    - blur hurts patches [blurry random patches < random patches]: not run (not in this table: blurry random patches)
"""
from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from focusmim import chapters
from focusmim.chapters import ch01_masking_strategy as ch01
from focusmim.config import DEFAULT_LR, PAPER_LR, Config
from focusmim.experiments import Table, results_dir
from focusmim.io import atomic_write, atomic_write_text
from focusmim.notebook import PRESET_RANK, load_tables
from focusmim import prediction
from focusmim.claims import at_budget, describe, paper_difference, seed_values, size_verdict, t_interval
from focusmim.claims import judge as judge_claim
from focusmim.paper import CITATIONS, CLAIMS, PAPER_ACCURACY, PAPER_COVERT_ERROR
from focusmim.presets import PRESETS

PAPER_EPOCHS = PRESETS["paper"]["epochs"]  # the paper's pretraining budget (its protocol: the paper preset)

__all__ = ["claims_text", "paper_comparison", "all_claims", "collect", "summary_markdown",
           "appendix_markdown", "headline_rows", "headline_figure", "write_summary", "judge", "judge_table",
           "table_rows", "claims_table", "claim_records", "verdict_of", "PAPER_VALUES", "longer_runs",
           "figure_rows", "checkpoint_note", "lr_note"]

# the paper's numbers per claim column (condition -> value), for the size of each claim's difference: the
# accuracies of Figure 4a-c, and section 4.5's foreground errors of the periphery-trained model without and
# with the covert-attention disc (chapter 5's model trained without a second disc, evaluated without and with
# a disc on the object). Columns without an entry (decorrelation) have no paper number
PAPER_VALUES: dict[str, dict[str, float]] = {
    "accuracy": PAPER_ACCURACY,
    "foreground": {"no second disc | periphery only": PAPER_COVERT_ERROR["without"],
                   "no second disc | periphery + disc on the object": PAPER_COVERT_ERROR["with"]},
}


def all_claims() -> dict[str, Any]:
    """Every claim we check: name -> :class:`focusmim.claims.Claim` (or ``AllOf``). The paper's accuracy
    claims (:data:`focusmim.paper.CLAIMS`) plus each chapter module's own ``CLAIMS``."""
    out = dict(CLAIMS)
    for name in chapters.REGISTRY.names():
        mod = inspect.getmodule(chapters.REGISTRY.get(name))
        for cname, claim in getattr(mod, "CLAIMS", {}).items():
            out.setdefault(cname, claim)
    return out


def _claim(name: str):
    claims = all_claims()
    if name not in claims:
        raise ValueError(f"claim={name!r} is not known; allowed: {', '.join(claims)}")
    return claims[name]


def table_rows(table: Table) -> dict[str, dict]:
    """condition -> row of a table (the last epoch's row where the table tracks epochs)."""
    return {r["condition"]: r for r in _final_rows(table.rows) if "condition" in r}


def judge_table(name: str, table: Table) -> dict:
    """Judge the claim ``name`` inside ``table`` alone (its runs share budget, seeds and probe): the
    per-seed difference with a 95 % interval and one of holds / does not hold / inconclusive
    (:func:`focusmim.claims.judge`); 'not run' when the table lacks a condition."""
    probe_n = len(table.meta.get("probe_seeds") or table.meta.get("probe seeds") or []) or None
    return judge_claim(_claim(name), table_rows(table), probe_n=probe_n)


def judge(claim: str, values: Mapping[str, float]) -> bool | None:
    """The claim's threshold on mean values alone (condition -> mean), without an interval."""
    return _claim(claim).on_means(values)


def claims_text(table: Table, claims: Iterable[str] | None = None) -> str:
    """One line per claim, judged inside ``table``: ``- <claim> (<threshold>): <verdict> (difference,
    95 % interval, seeds)``; a claim whose conditions the table lacks reads 'not run'."""
    if not isinstance(table, Table):
        raise ValueError(f"table={type(table).__name__} is not allowed; allowed: a focusmim.experiments.Table "
                         "(claims are judged from its per-seed values)")
    names = list(CLAIMS if claims is None else claims)
    lines = []
    for c in names:
        r = judge_table(c, table)
        lines.append(f"- {c} [{r['claim']}]: {describe(r, _claim(c).column)}")
    return "\n".join(lines)


def _pct(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f} %"


def _pm(mean: float, std: float | None) -> str:
    """``41.8 ± 0.6 %`` with no-break spaces, so a narrow table column never wraps inside the number.

        >>> _pm(0.418, 0.006) == "41.8\u00a0±\u00a00.6\u00a0%"
        True
    """
    return f"{100 * mean:.1f}\u00a0±\u00a0{100 * (std or 0):.1f}\u00a0%"


def paper_comparison(table: Table) -> Table:
    """condition | ours (mean ± std) | paper (STL-10) | ours − paper, for a table's rows with an
    accuracy: a :class:`~focusmim.experiments.Table` of text cells (``.show()`` draws it as
    HTML, ``.to_markdown()`` as text)."""
    if not isinstance(table, Table):
        raise ValueError(f"table={type(table).__name__} is not allowed; allowed: a focusmim.experiments.Table")
    rows = []
    for r in table.rows:
        if r.get("accuracy_mean") is None:
            continue
        p = PAPER_ACCURACY.get(r["condition"])
        rows.append({"condition": r["condition"],
                     "ours": _pm(r["accuracy_mean"], r.get("accuracy_std")),
                     "paper (STL-10)": _pct(p),
                     "ours − paper": "" if p is None else f"{100 * (r['accuracy_mean'] - p):+.1f} points"})
    return Table(f"{table.title}: ours and the paper" if table.title else "ours and the paper", rows, dict(table.meta))


def _table_names(root: Path) -> list[str]:
    """The names of the tables stored under ``root/<preset>/`` (any preset)."""
    return sorted({p.stem for d in root.iterdir() if d.is_dir() and d.name in PRESET_RANK
                   for p in d.glob("*.json")}) if root.exists() else []


def collect(root: str | Path | None = None) -> dict[str, tuple[str, Table]]:
    """Every stored table name -> (preset, Table) of its largest-budget preset."""
    root = Path(root) if root is not None else results_dir()
    out = {}
    for name in _table_names(root):
        tables = load_tables(name, root)
        if tables:
            preset = next(iter(tables))
            out[name] = (preset, tables[preset])
    return out


def _cell(text: Any) -> str:
    """Text for a markdown table cell: a '|' inside (e.g. chapter 5's 'model | input' conditions) escaped."""
    return str(text).replace("|", "\\|")


def _budget(meta: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    # where the row's runs were trained (they record it) before the executing machine's meta
    dev = row.get("device") or meta.get("device_name") or meta.get("device") or ""
    seeds = row.get("pretrain_seeds", meta.get("seeds", meta.get("pretraining seeds")))
    wall = row.get("wall_time_s")
    if (row.get("epochs") == 0 or row.get("checkpoint") == "none") and not row.get("pretrain_seeds"):
        # a baseline without pretraining (raw pixels; in a curves table, its constant row at each epoch)
        return f"{meta.get('dataset', '?')} {meta.get('image_size', '?')} px, no pretraining"
    parts = [f"{meta.get('dataset', '?')} {meta.get('image_size', '?')} px",
             f"{row.get('epochs', meta.get('epochs', '?'))} ep"]
    if meta.get("batch_size"):
        parts.append(f"batch {meta['batch_size']}")
    precision = row.get("precision") or (None if row.get("device") else meta.get("precision"))
    if precision and "bf16" in str(precision):  # the runs' own record; the executing machine's only without one
        parts.append("bf16")
    parts += [f"seeds {list(seeds) if seeds is not None else '?'}", str(dev)]
    if wall:
        parts.append(f"{wall / 60:.1f} min" if wall < 3600 else f"{wall / 3600:.1f} h")
    return ", ".join(parts)


STALE_REASONS = {"foveal": "runs trained with the earlier foveal filter (before the reference's foveation)",
                 "blurry_periphery": "runs trained at lr 5e-4 (the paper's rule for the blurry periphery: 1e-4)",
                 "covert_attention": "runs trained with the second disc at the object's first maximal pixel (before "
                                     "the confident centroid)"}


def stale_reason(row: Mapping[str, Any], store: str | Path | None = None, meta: Mapping | None = None) -> str:
    """Why a stored row's runs are no longer what their condition means today ("" when they are): a run
    whose stored config keys elsewhere now was made under an earlier rule (the foveal filter, the blurry
    periphery's learning rate). Read from the book's run store (``results/store``); runs on data that
    need local files to be keyed (imagenette, own images) are not checked."""
    if row.get("older"):
        return str(row["older"])
    if meta is not None and "disc on the object" in str(row.get("condition", "")) and "object_disc_rule" not in meta:
        return "errors measured with the disc at the object's first maximal pixel (before the centroid rule)"
    root = Path(store) if store is not None else results_dir() / "store"
    for key in row.get("run_keys") or ():
        p = root / key / "config.json"
        if not p.exists():
            continue
        try:
            cfg = Config.from_dict(json.loads(p.read_text()))
        except (ValueError, TypeError):
            continue
        if cfg.dataset in ("cifar10", "stl10", "synthetic") and cfg.key() != key:
            return STALE_REASONS.get(cfg.masker, "runs keyed by an earlier rule")
    return ""


def _final_rows(rows: list[dict]) -> list[dict]:
    """Rows of tables that track a condition over training (an ``epoch`` column) reduced
    to the last epoch of each condition; other tables unchanged."""
    last: dict[str, dict] = {}
    for r in rows:
        if "epoch" not in r:
            return rows
        if r["condition"] not in last or r["epoch"] > last[r["condition"]]["epoch"]:
            last[r["condition"]] = r
    return list(last.values())


def _is_chapter(name: str) -> bool:
    """Chapter tables are named after their notebook (``01_...``); others are internal checks."""
    return name[:2].isdigit()


def headline_rows(tables: Mapping[str, tuple[str, Table]]) -> list[dict]:
    """One row per condition the paper reports (:data:`focusmim.paper.PAPER_ACCURACY`), ours
    from the first chapter table that has it (chapter order; internal checks never count):
    ``condition``, ``ours``, ``std``, ``paper``, ``table``, ``preset``, ``budget``.

    Example:
        >>> t = Table("t", [{"condition": "random patches", "accuracy_mean": 0.4, "accuracy_std": 0.01}],
        ...           {"dataset": "cifar10", "image_size": 32, "epochs": 10, "seeds": [0], "device_name": "CPU"})
        >>> r = headline_rows({"01_masking_strategy": ("gpu", t), "lr_check": ("cpu", t)})
        >>> [(x["condition"], x["ours"], x["paper"], x["table"]) for x in r]
        [('random patches', 0.4, 0.702, '01_masking_strategy')]
    """
    out: dict[str, dict] = {}
    for name in sorted(n for n in tables if _is_chapter(n)):
        preset, t = tables[name]
        for r in _final_rows(t.rows):
            c = r["condition"]
            if c in PAPER_ACCURACY and c not in out and r.get("accuracy_mean") is not None:
                out[c] = {"condition": c, "ours": r["accuracy_mean"], "std": r.get("accuracy_std") or 0.0,
                          "paper": PAPER_ACCURACY[c], "table": name, "preset": preset, "budget": _budget(t.meta, r),
                          "stale": stale_reason(r), "dataset": t.meta.get("dataset"),
                          "image_size": t.meta.get("image_size"), "epochs": r.get("epochs", t.meta.get("epochs")),
                          "best_epochs": list(r.get("decorrelation_epochs") or [])}
    order = list(PAPER_ACCURACY)
    return sorted(out.values(), key=lambda x: order.index(x["condition"]))


def figure_rows(rows: list[dict]) -> list[dict]:
    """The rows of one tier, the largest (:data:`~focusmim.notebook.PRESET_RANK`) among ``rows``: a figure never
    puts the numbers of two budgets side by side. Rows without a ``preset`` count as one tier.

        >>> figure_rows([{"condition": "a", "preset": "gpu"}, {"condition": "b", "preset": "imagenette"}])
        [{'condition': 'b', 'preset': 'imagenette'}]
    """
    if not rows:
        return []
    top = max(PRESET_RANK.get(r.get("preset"), -1) for r in rows)
    return [r for r in rows if PRESET_RANK.get(r.get("preset"), -1) == top]


def _tier(rows: list[dict]) -> str:
    """``the imagenette tier (imagenette 96 px, 50 epochs)`` of :func:`figure_rows`' rows."""
    r = rows[0]
    facts = ", ".join(x for x in (f"{r.get('dataset')} {r.get('image_size')} px" if r.get("dataset") else "",
                                  f"{r['epochs']} epochs" if r.get("epochs") else "") if x)
    return f"the {r.get('preset') or 'one'} tier" + (f" ({facts})" if facts else "")


def headline_figure(rows: list[dict]):
    """Ours against the paper per condition (horizontal bars: ours with its std; diamonds:
    the paper's STL-10 numbers), for one tier only: the largest among ``rows`` (:func:`figure_rows`), named in
    the title and the legend."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows is empty; allowed: the result of headline_rows with at least one row")
    rows = figure_rows(rows)
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(rows) + 1.9), layout="constrained")
    y = list(range(len(rows)))[::-1]
    tier = _tier(rows)[4:]  # 'imagenette tier (imagenette 96 px, 50 epochs)'
    ax.barh(y, [100 * r["ours"] for r in rows], xerr=[100 * r["std"] for r in rows], color="#3b6ea8",
            height=0.6, label=f"ours: {tier}")
    ax.plot([100 * r["paper"] for r in rows], y, "D", color="black", markersize=5,
            label=f"paper (STL-10 96 px, {PAPER_EPOCHS} epochs)")
    ax.set_yticks(y, [r["condition"] for r in rows], fontsize=8)
    ax.set_xlabel("linear-probe test accuracy (%)")
    ax.set_title(f"One tier only: {tier}", fontsize=9)
    ax.set_xlim(0, 100)
    ax.axvline(10, color="grey", lw=0.8, ls=":")
    fig.legend(fontsize=8, loc="outside lower center", ncols=2)
    return fig


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
    """Chapter 1's prediction for longer runs (:mod:`focusmim.prediction`) from its budget curves
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


def _and(items, word: str = "and") -> str:
    """``a, b and c``.

        >>> _and([10, 25, 50]), _and(["x"]), _and([100, 500], "or"), _and([])
        ('10, 25 and 50', 'x', '100 or 500', '')
    """
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


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


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _range(values: Iterable[int]) -> str:
    v = sorted(set(values))
    return "" if not v else str(v[0]) if len(v) == 1 else f"{v[0]}-{v[-1]}"


def checkpoint_note(rows: Iterable[Mapping]) -> str:
    """Which checkpoint the headline numbers are, generated from the rows' ``best_epochs`` (the epochs at which
    each run reached its lowest training loss): "" when no row records them.

        >>> checkpoint_note([{"table": "t", "preset": "p", "epochs": 50, "best_epochs": [49, 47, 50]}])
        "Ours are each run's lowest-training-loss checkpoint, not its last epoch: t (p, 50 epochs): epochs 47-50."
    """
    by: dict[tuple, list] = {}
    for r in rows:
        if r.get("best_epochs"):
            by.setdefault((r["table"], r["preset"], r.get("epochs")), []).extend(r["best_epochs"])
    if not by:
        return ""
    parts = [f"{t} ({p}, {e} epochs): epoch{'s' if len(set(b)) > 1 else ''} {_range(b)}" for (t, p, e), b in by.items()]
    return "Ours are each run's lowest-training-loss checkpoint, not its last epoch: " + "; ".join(parts) + "."


def _constant_note(row: Mapping) -> str:
    """One sentence per condition without pretraining seeds (raw pixels) in a claim's comparison: how its own
    spread enters the interval (it does not)."""
    out = []
    claim = _claim(row["claim"])
    for c, r in row.get("constants", {}).items():
        others = [x for x in dict.fromkeys(claim.conditions()) if x != c]
        n = (row["result"] or {}).get("n", 0)
        if claim.column == "accuracy":
            value, spread = f"{100 * r['accuracy_mean']:.1f} %", f"±{100 * (r.get('accuracy_std') or 0):.1f} points"
        else:
            value, spread = f"{r.get(f'{claim.column}_mean', r.get(f'{claim.column} mean')):.3g}", "its spread"
        out.append(f"{c[0].upper()}{c[1:]} have no pretraining seeds: in “{row['claim']}” {c} enter every per-seed "
                   f"difference as one constant, the mean over probe seeds ({value} in {row['table']}); their own "
                   f"spread over probe seeds ({spread}) is not in the interval, which is over the "
                   f"{' and '.join(others)}'s {n} pretraining seed{'s' if n != 1 else ''} only.")
    return " ".join(out)


def _size_cell(r: Mapping) -> str:
    return f"{r['size']} ({r['size_reason']})" if r["size"] in ("inconclusive", "not run") and r["size_reason"] \
        else r["size"]


def _sign_cell(r: Mapping) -> str:
    res = r["result"] or {}
    reasons = [p.get("reason", "") for p in res.get("parts") or [res]]
    straddles = r["verdict"] == "inconclusive" and any("straddles" in x for x in reasons)
    return f"{r['verdict']} (the interval straddles the threshold)" if straddles else r["verdict"]


def lr_note(rows: Iterable[Mapping], root: str | Path | None = None) -> str:
    """Whether the headline rows' learning rates were selected at their own budget, or are the paper's selection
    kept from its budget (the open confound of the headline comparison), and where a selection has run.

        >>> lr_note([{"table": "01_masking_strategy", "preset": "imagenette"}], "/nonexistent")[:43]
        '**Open confound of the headline comparison:'
    """
    root = Path(root) if root is not None else results_dir()
    sel = load_tables("01_masking_strategy-lr_selection", root)
    out = []
    for preset in sorted({r["preset"] for r in rows if r.get("table") == "01_masking_strategy"}):
        if preset in sel:
            out.append(f"The {preset} rows of chapter 1 have their learning rates selected at their own budget "
                       f"({_and([f'{k} {v:g}' for k, v in sel[preset].meta.get('selected', {}).items()])}).")
            continue
        paper = _and([f"{m.replace('_', ' ')} {r:g}" for m, r in PAPER_LR.items() if m != "covert_attention"])
        done = [p for p in sel if PRESET_RANK.get(p, -1) < PRESET_RANK.get(preset, 99)]
        out.append(f"**Open confound of the headline comparison:** the {preset} rows train each strategy at the "
                   f"learning rate the paper selected at its own budget ({PAPER_EPOCHS} epochs: {paper}, "
                   f"{DEFAULT_LR:g} for the others), not at this one. The selection at this tier is the first item "
                   f"of the GPU lease queue (`python scripts/device_queue.py --preset imagenette --dry-run`)"
                   + (f"; at the {_and(done)} tier it has run, and chapter 1 shows what it changes there."
                      if done else "."))
    return " ".join(out)


def summary_markdown(root: str | Path | None = None, *, figure: str | None = None,
                     appendix: str | None = None) -> str:
    """The results page as markdown (see :func:`write_summary`); ``figure`` and ``appendix``
    are the names to link (the headline figure's file, the appendix page's document)."""
    tables = collect(root)
    out = ["# Results summary", "",
           "Generated by `python -m focusmim summary` from the tables the notebooks stored under `results/`; "
           "for each table the largest budget that was run is shown. Paper numbers: "
           f"{CITATIONS['focusmim'].split(' (code')[0]}, read off Figure 4a-c (STL-10, linear probe; "
           "about ±0.5 points). Ours: mean ± standard deviation over pretraining seeds "
           "(over probe seeds where there is one pretraining seed).", ""]
    if not tables:
        out += ["No stored tables yet: execute the notebooks (or `python -m focusmim precompute`) first.", ""]
    rows = headline_rows(tables)
    if rows:
        out += ["## Ours against the paper", "",
                "| condition | ours | paper (STL-10) | ours − paper | budget (dataset, size, epochs, seeds, device) |",
                "|---|---|---|---|---|"]
        for r in rows:
            stale = f"; {r['stale']}" if r.get("stale") else ""
            out.append(f"| {r['condition']} | {_pm(r['ours'], r['std'])} | {_pct(r['paper'])} | "
                       f"{100 * (r['ours'] - r['paper']):+.1f} | {r['budget']} ({r['table']}, {r['preset']}{stale}) |")
        note = checkpoint_note(rows)
        if note:
            out += ["", note + " The device is where the runs were trained (their own record)."]
        lr = lr_note(rows, root)
        if lr:
            out += ["", lr]
        if figure:
            shown = figure_rows(rows)
            left = [r["condition"] for r in rows if r not in shown]
            out += ["", f"![ours against the paper's STL-10 numbers]({figure})", "",
                    f"The figure shows one tier only, the largest: {_tier(shown)}"
                    + (f"; {_and(left)} (measured only at a smaller tier) are in the table above, not in the figure."
                       if left else ".")]
    records = claims_table(root)
    out += ["", "## The paper's claims", "",
            "Each claim is judged inside one table (same budget, same pretraining seeds, same probe), the one of "
            "the largest budget that holds both of its conditions: the mean per-seed difference with a 95 % "
            "Student-t interval over pretraining seeds.", "",
            "**Size against the paper** (first): whether the paper's own difference between the two conditions "
            "(Figure 4a-c; for covert attention, the foreground errors of section 4.5) lies inside our interval: "
            "*consistent with the paper's size* when it does, *smaller* or *larger than the paper's* when our "
            "whole interval lies below or above it. Sizes are compared in the direction the claim states (for "
            "'a < b', the effect is b − a; for 'a within m of b', the direction of the paper's difference), so an "
            "effect of the opposite sign counts as smaller. *Inconclusive* where the paper gives no number for a "
            "condition, or where there is one pretraining seed (no interval): never a size claim. The paper's "
            f"numbers are STL-10 after {PAPER_EPOCHS} epochs, ours other images at a smaller budget (the last "
            "column), and each paper number is read off a figure to about ±0.5 points: a size unlike the paper's describes "
            "our budget, not the paper.", "",
            "**Sign**: the claim holds when the whole interval lies on the claim's side of its threshold, does "
            "not hold when it lies on the other side, and is inconclusive when it straddles it or when there is "
            "only one pretraining seed.", "",
            "| claim | size against the paper | paper's difference | our difference (95 % interval) | sign | "
            "threshold | judged in |", "|---|---|---|---|---|---|---|"]
    for r in records:
        out.append(f"| {_cell(r['claim'])} | {_cell(_size_cell(r))} | {_cell(r['paper'])} | {_cell(r['ours'])} | "
                   f"{_cell(_sign_cell(r))} | {_cell(r['threshold'])} | {_cell(r['where'])} |")
    notes = [n for n in (_constant_note(r) for r in records if r.get("constants")) if n]
    if notes:
        out += [""] + notes
    curves = tables.get("01_masking_strategy-curves")
    if curves is not None:
        preset, t = curves
        main = tables.get("01_masking_strategy")
        main_t = main[1] if main is not None and main[0] == preset else None
        epochs = t.meta.get("curve_epochs") or sorted({r["epoch"] for r in t.rows})
        by_budget = ch01.claims_by_budget(t, ch01.MAIN_CLAIMS)
        budget = _budget(t.meta, next(iter(t.rows), {}))
        lr = longer_runs(t, main_t)
        best = [e for e in {r["epoch"] for r in t.rows if r.get("checkpoint") == "best"}]
        best_note = ""
        if best and lr["best_epochs"]:
            best_note = (f" The {best[0]}-epoch column is each run's lowest-training-loss checkpoint (reached at "
                         f"epochs {_range(lr['best_epochs'])}), as in the tables above; the others are the weights "
                         "after that epoch.")
        out += ["", "### At each budget", "",
                f"Chapter 1's claims judged again on the same runs probed after fewer epochs ({preset} preset, "
                f"{budget}): where a verdict moves with the budget, it is a statement about the budget."
                + best_note, "",
                "| claim | " + " | ".join(f"{e} epochs" for e in epochs) + " |",
                "|---|" + "---|" * len(epochs)]
        for r in by_budget.rows:
            out.append(f"| {_cell(r['claim'])} | " + " | ".join(r[f"verdict {e}"] for e in epochs) + " |")
        if lr["strategies"]:
            out += _longer_runs_markdown(lr, preset, budget)
    low = [f"{n} ({p})" for n, (p, _) in tables.items() if p in ("smoke", "cpu") and _is_chapter(n)]
    if low:
        out += ["", "Tables at a small budget (smoke: synthetic images; cpu: CIFAR-10 for minutes) test the "
                "pipeline, not the paper: their verdicts say little. Small-budget tables: " + ", ".join(low) + "."]
    out += ["", "Where a claim does not hold, {doc}`findings` says what we checked (bugs, learning rate, "
            "ratio, resolution, budget) before writing it down."]
    if appendix:
        out += [f"Every condition of every table, with the internal checks (learning-rate checks, synthetic "
                f"runs), is in {{doc}}`{appendix}`."]
    return "\n".join(out) + "\n"


def _num(v: float | None, column: str) -> str:
    """A difference in the column's units: accuracy in points (one decimal), others to three digits."""
    if v is None:
        return ""
    return f"{100 * v:+.1f}" if column == "accuracy" else f"{v:+.3g}"


def _unit(column: str) -> str:
    return " points" if column == "accuracy" else ""


def _ours_text(r: Mapping, column: str) -> str:
    """``+12.5 [+8.0, +17.0] points, 3 seeds`` (one seed: ``+0.1 points, 1 seed: no interval``); a claim of
    several parts lists each part's, numbered."""
    if r.get("parts") is not None:
        return "; ".join(f"({i}) {_ours_text(p, column)}" for i, p in enumerate(r["parts"], 1))
    if r.get("diff") is None:
        return r.get("reason", "")
    seeds = f"{r['n']} seed{'s' if r['n'] != 1 else ''}"
    if r.get("low") is None:
        return f"{_num(r['diff'], column)}{_unit(column)}, {seeds}: no interval"
    return f"{_num(r['diff'], column)} [{_num(r['low'], column)}, {_num(r['high'], column)}]{_unit(column)}, {seeds}"


def _paper_text(paper_diff, column: str) -> str:
    if isinstance(paper_diff, (tuple, list)):
        if all(d is None for d in paper_diff):
            return "no paper number"
        return "; ".join(f"({i}) {_paper_text(d, column)}" for i, d in enumerate(paper_diff, 1))
    return "no paper number" if paper_diff is None else f"{_num(paper_diff, column)}{_unit(column)}"


def claims_table(root: str | Path | None = None) -> list[dict]:
    """One row per claim (:func:`all_claims`): judged inside the chapter table of the largest budget
    that holds both of its conditions (:func:`judge_table`), with ``claim``, ``threshold``, ``verdict`` (the
    sign), ``difference`` (text), ``size`` and ``size_reason`` (:func:`focusmim.claims.size_verdict` against
    :data:`PAPER_VALUES`), ``paper_difference`` (a - b in the paper, ``None`` without a paper number; a tuple
    for a claim of several parts), ``ours`` and ``paper`` (short texts), ``where`` (table, preset, budget),
    ``budget``, ``table``, ``preset``, ``stale``, ``constants`` (conditions without pretraining seeds) and
    ``result`` (the numbers)."""
    root = Path(root) if root is not None else results_dir()
    candidates = []  # (rank, chapter name, preset, table), largest budget first
    for name in (n for n in _table_names(root) if _is_chapter(n)):
        for preset, t in load_tables(name, root).items():
            candidates.append((PRESET_RANK[preset], name, preset, t))
    candidates.sort(key=lambda c: (-c[0], c[1]))
    rows = []
    for cname, claim in all_claims().items():
        pd = paper_difference(claim, PAPER_VALUES.get(claim.column, {}))
        best = None
        for _, name, preset, t in candidates:
            r = at_budget(judge_table(cname, t), preset)  # a small budget never says "does not hold"
            if r["verdict"] != "not run":
                best = (r, name, preset, t)
                break
        if best is None:
            rows.append({"claim": cname, "threshold": claim.threshold(), "verdict": "not run", "difference": "",
                         "where": "", "result": None, "size": "not run",
                         "size_reason": "no table holds both of its conditions", "paper_difference": pd,
                         "ours": "", "paper": _paper_text(pd, claim.column), "budget": "", "table": None,
                         "preset": None, "stale": [], "constants": {}})
            continue
        r, name, preset, t = best
        rows_ = table_rows(t)
        stale = sorted({stale_reason(rows_[c], meta=t.meta) for c in claim.conditions() if c in rows_} - {""})
        text = describe(r, claim.column)
        diff = text[len(r["verdict"]):].strip()
        diff = diff[1:-1] if diff.startswith("(") and diff.endswith(")") else diff  # only the outer pair
        first = next(iter(table_rows(t).values()), {})
        budget = _budget(t.meta, first)
        where = f"{name} ({preset}: {budget})" + (f"; {'; '.join(stale)}" if stale else "")
        constants = {c: rows_[c] for c in dict.fromkeys(claim.conditions())
                     if c in rows_ and isinstance(seed_values(rows_[c], claim.column), float)}
        rows.append({"claim": cname, "threshold": claim.threshold(), "verdict": r["verdict"], "difference": diff,
                     "where": where, "result": r, "table": name, "preset": preset, "stale": stale, "budget": budget,
                     **size_verdict(r, pd, claim.column), "paper_difference": pd,
                     "ours": _ours_text(r, claim.column), "paper": _paper_text(pd, claim.column),
                     "constants": constants})
    return rows


def _record(row: Mapping, claim) -> dict:
    r = row["result"] or {}
    parts = None
    if r.get("parts") is not None:
        pds = row["paper_difference"] or (None,) * len(r["parts"])
        parts = []
        for c, p, d in zip(claim.claims, r["parts"], pds):
            size = size_verdict(p, d, claim.column)
            parts.append({"threshold": c.threshold(), "sign_verdict": p["verdict"], "sign_reason": p.get("reason", ""),
                          "size_verdict": size["size"], "size_reason": size["size_reason"], "paper_difference": d,
                          "difference": p.get("diff"), "low": p.get("low"), "high": p.get("high"), "n": p.get("n", 0)})
    return {"claim": row["claim"], "threshold": row["threshold"], "column": claim.column,
            "unit": "points" if claim.column == "accuracy" else claim.column,
            "sign_verdict": row["verdict"], "sign_reason": r.get("reason", ""),
            "size_verdict": row["size"], "size_reason": row["size_reason"],
            "paper_difference": None if parts else row["paper_difference"],
            "difference": r.get("diff"), "low": r.get("low"), "high": r.get("high"), "n": r.get("n", 0),
            "paper_text": row["paper"], "ours_text": row["ours"], "parts": parts,
            "table": row["table"], "preset": row["preset"], "budget": row["budget"], "where": row["where"],
            "stale": list(row["stale"]), "page": "results"}


def claim_records(root: str | Path | None = None) -> list[dict]:
    """The results page's verdict of every claim as plain data, for pages that summarise it (findings):
    one dict per claim, in :func:`all_claims` order, with

    * ``claim`` (name), ``threshold`` (the claim in words), ``column`` (``accuracy`` or another per-seed
      column), ``unit`` (``points`` for accuracy: the numbers below are fractions, x100 for points);
    * ``sign_verdict`` (holds / does not hold / inconclusive / not run) and ``sign_reason``;
    * ``size_verdict`` (:data:`focusmim.claims.SIZE_VERDICTS` or ``not run``) and ``size_reason``;
    * ``paper_difference`` (a - b in the paper, ``None`` without a paper number), ``difference`` (our mean
      per-seed a - b), ``low``/``high`` (its 95 % interval, ``None`` with one seed), ``n`` (pretraining seeds);
    * ``paper_text``, ``ours_text``: the same as the page prints them;
    * ``parts``: for a claim of several parts, one dict per part (``threshold``, ``sign_verdict``,
      ``sign_reason``, ``size_verdict``, ``size_reason``, ``paper_difference``, ``difference``, ``low``,
      ``high``, ``n``; the claim's own numbers are then ``None``), else ``None``;
    * ``table``, ``preset``, ``budget`` (where it was judged: the table, its tier, the budget in words),
      ``where`` (the page's cell), ``stale`` (notes on runs of an earlier rule) and ``page`` (``results``).
    """
    claims = all_claims()
    return [_record(row, claims[row["claim"]]) for row in claims_table(root)]


def verdict_of(claim: str, root: str | Path | None = None) -> dict:
    """The results page's verdict of ``claim`` (sign and size, with where it was judged): its
    :func:`claim_records` entry, so that a chapter shows the same verdict as the results page, or points to it.

    Example:
        >>> import tempfile
        >>> v = verdict_of("patches >= periphery", tempfile.mkdtemp())  # no tables stored there
        >>> v["sign_verdict"], v["size_verdict"], v["paper_text"]
        ('not run', 'not run', '+2.3 points')
    """
    _claim(claim)  # refuses an unknown name, listing the known ones
    return next(r for r in claim_records(root) if r["claim"] == claim)


def appendix_markdown(root: str | Path | None = None) -> str:
    """The appendix page: every condition of every stored table (chapters first, then the
    internal checks), with our number, the paper's and the budget."""
    tables = collect(root)
    out = ["# Appendix: every table", "",
           "Every condition of every table stored under `results/` (largest budget of each), generated by "
           "`python -m focusmim summary`. Tables not named after a chapter are internal checks (learning-rate "
           "checks, runs on the synthetic images) that the chapters and {doc}`findings` refer to.", ""]
    if not tables:
        return "\n".join(out + ["No stored tables yet.", ""])
    for title, names in (("Chapters", [n for n in tables if _is_chapter(n)]),
                         ("Internal checks", [n for n in tables if not _is_chapter(n)])):
        if not names:
            continue
        out += [f"## {title}", "",
                "| table | condition | ours | paper (STL-10) | budget (dataset, size, epochs, seeds, device, wall time) |",
                "|---|---|---|---|---|"]
        for name in names:
            preset, t = tables[name]
            for r in _final_rows(t.rows):
                if r.get("accuracy_mean") is None:
                    continue
                p = PAPER_ACCURACY.get(r["condition"])
                stale = stale_reason(r)
                out.append(f"| {name} ({preset}) | {r['condition']} | {_pm(r['accuracy_mean'], r.get('accuracy_std'))} | "
                           f"{_pct(p)} | {_budget(t.meta, r)}{f'; {stale}' if stale else ''} |")
        out.append("")
    return "\n".join(out)


def write_summary(path: str | Path = "book/results.md", root: str | Path | None = None) -> Path:
    """Write the results page to ``path`` (a .md file), its headline figure beside it
    (``<stem>_headline.png``, when a chapter table has a condition the paper reports) and
    the appendix page (``<stem>_appendix.md``); returns the page's path."""
    path = Path(path)
    if path.suffix != ".md":
        raise ValueError(f"path={str(path)!r} is not allowed; allowed: a file name ending in .md")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path={str(path)!r}: folder {path.parent} does not exist; allowed: a file in an "
                                f"existing folder")

    rows = headline_rows(collect(root))
    figure = None
    if rows:
        import matplotlib.pyplot as plt

        fig = headline_figure(rows)
        figure = f"{path.stem}_headline.png"
        atomic_write(path.parent / figure, lambda f: fig.savefig(f, format="png", dpi=100), mode="wb")
        plt.close(fig)
    appendix = path.with_name(f"{path.stem}_appendix.md")
    atomic_write_text(appendix_markdown(root), appendix)
    atomic_write_text(summary_markdown(root, figure=figure, appendix=appendix.stem), path)
    return path
