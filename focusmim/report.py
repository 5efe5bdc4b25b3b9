"""The book's results summary, generated from the stored tables.

``write_summary(path)`` reads every table under ``results/<preset>/`` (see
:func:`focusmim.notebook.load_tables`), keeps the largest-budget preset of each,
and writes one markdown page: every condition with our mean +- std, the paper's
number and the budget behind ours, then one line per claim of the paper saying
whether our numbers support it.

Example:
    >>> verdict(True), verdict(False), verdict(None)
    ('holds', 'does not hold', 'not run')
    >>> print(claims_text({"random patches": 0.70, "masked periphery": 0.69}, ["patches >= periphery"]))
    - patches >= periphery: holds
"""
from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from focusmim.experiments import Table, results_dir
from focusmim.notebook import PRESET_RANK, load_tables
from focusmim.paper import CITATIONS, CLAIMS, PAPER_ACCURACY, claim_holds

__all__ = ["verdict", "claims_text", "paper_comparison", "all_claims", "collect", "summary_markdown",
           "write_summary", "judge"]


def verdict(holds: bool | None) -> str:
    """'holds' / 'does not hold' / 'not run' (a condition the claim needs is missing)."""
    return "not run" if holds is None else "holds" if holds else "does not hold"


def all_claims() -> dict[str, tuple[str, Callable[[dict], bool]]]:
    """Every claim we check: name -> (table column, test on condition -> value).
    The paper's accuracy claims (:data:`focusmim.paper.CLAIMS`) plus each chapter
    module's own ``CLAIMS``."""
    out = {name: ("accuracy_mean", fn) for name, fn in CLAIMS.items()}
    from focusmim import chapters

    for name in chapters.REGISTRY.names():
        mod = inspect.getmodule(chapters.REGISTRY.get(name))
        for cname, (col, fn) in getattr(mod, "CLAIMS", {}).items():
            out.setdefault(cname, (col, fn))
    return out


def judge(claim: str, values: Mapping[str, float]) -> bool | None:
    """Like :func:`focusmim.paper.claim_holds`, for every claim of :func:`all_claims`."""
    if claim in CLAIMS:
        return claim_holds(claim, dict(values))
    claims = all_claims()
    if claim not in claims:
        raise ValueError(f"claim={claim!r} is not known; allowed: {', '.join(claims)}")
    try:
        return bool(claims[claim][1](dict(values)))
    except KeyError:
        return None


def claims_text(values: Mapping[str, float], claims: Iterable[str] | None = None) -> str:
    """One line per claim: ``- <claim>: holds | does not hold | not run``, judged on
    ``values`` (condition -> accuracy, or the claim's own column)."""
    if not isinstance(values, Mapping):
        raise ValueError(f"values={type(values).__name__} is not allowed; allowed: a dict condition -> number")
    names = list(CLAIMS if claims is None else claims)
    return "\n".join(f"- {c}: {verdict(judge(c, values))}" for c in names)


def _pct(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f} %"


def paper_comparison(table: Table) -> str:
    """Markdown: condition | ours (mean ± std) | paper (STL-10) | ours − paper, for a table's
    rows with an accuracy."""
    if not isinstance(table, Table):
        raise ValueError(f"table={type(table).__name__} is not allowed; allowed: a focusmim.experiments.Table")
    lines = ["| condition | ours | paper (STL-10) | ours − paper |", "|---|---|---|---|"]
    for r in table.rows:
        if r.get("accuracy_mean") is None:
            continue
        p = PAPER_ACCURACY.get(r["condition"])
        diff = "" if p is None else f"{100 * (r['accuracy_mean'] - p):+.1f} points"
        lines.append(f"| {r['condition']} | {_pct(r['accuracy_mean'])} ± {100 * (r.get('accuracy_std') or 0):.1f} "
                     f"| {_pct(p)} | {diff} |")
    return "\n".join(lines)


def collect(root: str | Path | None = None) -> dict[str, tuple[str, Table]]:
    """Every stored table name -> (preset, Table) of its largest-budget preset."""
    root = Path(root) if root is not None else results_dir()
    names = sorted({p.stem for d in root.iterdir() if d.is_dir() and d.name in PRESET_RANK
                    for p in d.glob("*.json")}) if root.exists() else []
    out = {}
    for name in names:
        tables = load_tables(name, root)
        if tables:
            preset = next(iter(tables))
            out[name] = (preset, tables[preset])
    return out


def _budget(meta: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    dev = meta.get("device_name") or meta.get("device") or row.get("device") or ""
    seeds = row.get("pretrain_seeds", meta.get("seeds", meta.get("pretraining seeds")))
    wall = row.get("wall_time_s")
    parts = [f"{meta.get('dataset', '?')} {meta.get('image_size', '?')} px",
             f"{row.get('epochs', meta.get('epochs', '?'))} ep"]
    if meta.get("batch_size"):
        parts.append(f"batch {meta['batch_size']}")
    if meta.get("precision") == "bf16":
        parts.append("bf16")
    parts += [f"seeds {list(seeds) if seeds is not None else '?'}", str(dev)]
    if wall:
        parts.append(f"{wall / 60:.1f} min" if wall < 3600 else f"{wall / 3600:.1f} h")
    return ", ".join(parts)


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


def summary_markdown(root: str | Path | None = None) -> str:
    """The results page as markdown (see :func:`write_summary`)."""
    tables = collect(root)
    out = ["# Results summary", "",
           "Generated by `python -m focusmim summary` from the tables the notebooks stored under `results/`; "
           "for each table the largest budget that was run is shown. Paper numbers: "
           f"{CITATIONS['focusmim'].split(' (code')[0]}, read off Figure 4a-c (STL-10, linear probe; "
           "about ±0.5 points). Ours: mean ± standard deviation over pretraining seeds "
           "(over probe seeds where there is one pretraining seed).", ""]
    if not tables:
        out += ["No stored tables yet: execute the notebooks (or `python -m focusmim precompute`) first.", ""]
    out += ["## Every condition", "",
            "| table | condition | ours | paper (STL-10) | budget (dataset, size, epochs, seeds, device, wall time) |",
            "|---|---|---|---|---|"]
    values_by_preset: dict[str, dict[str, dict[str, float]]] = {}
    for name, (preset, t) in tables.items():
        for r in _final_rows(t.rows):
            for col, v in r.items():
                if (col.endswith("_mean") or col.endswith(" mean")) and isinstance(v, (int, float)):
                    values_by_preset.setdefault(preset, {}).setdefault(col, {}).setdefault(r["condition"], v)
            if r.get("accuracy_mean") is None:
                continue
            p = PAPER_ACCURACY.get(r["condition"])
            out.append(f"| {name} ({preset}) | {r['condition']} | {_pct(r['accuracy_mean'])} ± "
                       f"{100 * (r.get('accuracy_std') or 0):.1f} | {_pct(p)} | {_budget(t.meta, r)} |")
    out += ["", "## The paper's claims", "",
            "Judged on the largest budget at which every condition a claim needs was run.", ""]
    presets = sorted(values_by_preset, key=PRESET_RANK.get, reverse=True)
    for claim, (col, _) in all_claims().items():
        result, where = None, ""
        for preset in presets:
            result = judge(claim, values_by_preset[preset].get(col, {}))
            if result is not None:
                where = f" ({preset} preset)"
                break
        out.append(f"- {claim}: {verdict(result)}{where}")
    low = [f"{n} ({p})" for n, (p, _) in tables.items() if p in ("smoke", "cpu")]
    if low:
        out += ["", "Tables at a small budget (smoke: synthetic images; cpu: CIFAR-10 for minutes) test the "
                "pipeline, not the paper: their verdicts say little. Small-budget tables: " + ", ".join(low) + "."]
    out += ["", "Where a claim does not hold, {doc}`findings` says what we checked (bugs, learning rate, "
            "ratio, resolution, budget) before writing it down."]
    return "\n".join(out) + "\n"


def write_summary(path: str | Path = "book/results.md", root: str | Path | None = None) -> Path:
    """Write :func:`summary_markdown` to ``path`` (a .md file); returns the path."""
    path = Path(path)
    if path.suffix != ".md":
        raise ValueError(f"path={str(path)!r} is not allowed; allowed: a file name ending in .md")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path={str(path)!r}: folder {path.parent} does not exist; allowed: a file in an "
                                f"existing folder")
    path.write_text(summary_markdown(root))
    return path
