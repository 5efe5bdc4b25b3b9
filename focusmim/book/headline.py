"""The results page's headline: one row per condition the paper reports, at the largest budget we have,
with the budget behind each number, its figure (one tier), and the notes under it.
"""
from __future__ import annotations
from pathlib import Path
from typing import Iterable, Mapping
from focusmim.config import DEFAULT_LR, PAPER_LR
from focusmim.experiments import Table, results_dir
from focusmim.book.notebook import PRESET_RANK, load_tables
from focusmim.evaluation.paper import PAPER_ACCURACY

from .claim_checks import _claim
from .report_rows import PAPER_EPOCHS, _and, _budget, _final_rows, _is_chapter, _range, stale_reason


def headline_rows(tables: Mapping[str, tuple[str, Table]]) -> list[dict]:
    """One row per condition the paper reports (:data:`focusmim.evaluation.paper.PAPER_ACCURACY`), ours
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
    """The rows of one tier, the largest (:data:`~focusmim.book.notebook.PRESET_RANK`) among ``rows``: a figure never
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
