"""The paper's claims judged on a table: which claims a table answers, their verdicts, and the claims
table of the results page (ours beside the paper's, in sign and in size).

Example:
    >>> "patches >= periphery" in all_claims()
    True
"""
from __future__ import annotations
import inspect
from pathlib import Path
from typing import Any, Iterable, Mapping
from focusmim import chapters
from focusmim.experiments import Table, results_dir
from focusmim.book.notebook import PRESET_RANK, load_tables
from focusmim.evaluation.claims import at_budget, describe, seed_values
from focusmim.evaluation.sizes import paper_difference, size_verdict
from focusmim.evaluation.claims import judge as judge_claim
from focusmim.evaluation.paper import CLAIMS, PAPER_ACCURACY, PAPER_COVERT_ERROR

from .report_rows import _budget, _final_rows, _is_chapter, _pct, _pm, _table_names, stale_reason


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
    """Every claim we check: name -> :class:`focusmim.evaluation.claims.Claim` (or ``AllOf``). The paper's accuracy
    claims (:data:`focusmim.evaluation.paper.CLAIMS`) plus each chapter module's own ``CLAIMS``."""
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
    (:func:`focusmim.evaluation.claims.judge`); 'not run' when the table lacks a condition."""
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
    sign), ``difference`` (text), ``size`` and ``size_reason`` (:func:`focusmim.evaluation.sizes.size_verdict` against
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
    * ``size_verdict`` (:data:`focusmim.evaluation.sizes.SIZE_VERDICTS` or ``not run``) and ``size_reason``;
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
