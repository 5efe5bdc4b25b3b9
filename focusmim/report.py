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
from typing import Any, Iterable, Mapping

from focusmim import chapters
from focusmim.chapters import ch01_masking_strategy as ch01
from focusmim.config import Config
from focusmim.experiments import Table, results_dir
from focusmim.io import atomic_write, atomic_write_text
from focusmim.notebook import PRESET_RANK, load_tables
from focusmim.claims import describe
from focusmim.claims import judge as judge_claim
from focusmim.paper import CITATIONS, CLAIMS, PAPER_ACCURACY

__all__ = ["claims_text", "paper_comparison", "all_claims", "collect", "summary_markdown",
           "appendix_markdown", "headline_rows", "headline_figure", "write_summary", "judge", "judge_table",
           "table_rows", "claims_table"]


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
    if row.get("epochs") == 0 and not row.get("pretrain_seeds"):  # a baseline without pretraining (raw pixels)
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
                          "stale": stale_reason(r)}
    order = list(PAPER_ACCURACY)
    return sorted(out.values(), key=lambda x: order.index(x["condition"]))


def headline_figure(rows: list[dict]):
    """Ours against the paper per condition (horizontal bars: ours with its std; diamonds:
    the paper's STL-10 numbers)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows is empty; allowed: the result of headline_rows with at least one row")
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(rows) + 1.2), layout="constrained")
    y = list(range(len(rows)))[::-1]
    ax.barh(y, [100 * r["ours"] for r in rows], xerr=[100 * r["std"] for r in rows], color="#3b6ea8",
            height=0.6, label="ours (budget in the table)")
    ax.plot([100 * r["paper"] for r in rows], y, "D", color="black", markersize=5, label="paper (STL-10)")
    ax.set_yticks(y, [r["condition"] for r in rows], fontsize=8)
    ax.set_xlabel("linear-probe test accuracy (%)")
    ax.set_xlim(0, 100)
    ax.axvline(10, color="grey", lw=0.8, ls=":")
    ax.legend(fontsize=8, loc="lower right")
    return fig


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
        if figure:
            out += ["", f"![ours against the paper's STL-10 numbers]({figure})"]
    out += ["", "## The paper's claims", "",
            "Each claim is judged inside one table (same budget, same pretraining seeds, same probe), the one of "
            "the largest budget that holds both of its conditions: the mean per-seed difference with a 95 % "
            "Student-t interval over pretraining seeds. It holds when the whole interval lies on the claim's "
            "side of its threshold, does not hold when it lies on the other side, and is inconclusive when it "
            "straddles it or when there is only one pretraining seed.", "",
            "| claim | threshold | verdict | difference (95 % interval) | judged in |", "|---|---|---|---|---|"]
    for r in claims_table(root):
        out.append(f"| {_cell(r['claim'])} | {_cell(r['threshold'])} | {r['verdict']} | {_cell(r['difference'])} | "
                   f"{_cell(r['where'])} |")
    curves = tables.get("01_masking_strategy-curves")
    if curves is not None:
        preset, t = curves
        epochs = t.meta.get("curve_epochs") or sorted({r["epoch"] for r in t.rows})
        by_budget = ch01.claims_by_budget(t, ch01.MAIN_CLAIMS)
        out += ["", "### At each budget", "",
                f"Chapter 1's claims judged again on the same runs probed after fewer epochs ({preset} preset, "
                f"{_budget(t.meta, next(iter(t.rows), {}))}): where a verdict moves with the budget, it is a "
                "statement about the budget.", "",
                "| claim | " + " | ".join(f"{e} epochs" for e in epochs) + " |",
                "|---|" + "---|" * len(epochs)]
        for r in by_budget.rows:
            out.append(f"| {_cell(r['claim'])} | " + " | ".join(r[f"verdict {e}"] for e in epochs) + " |")
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


def claims_table(root: str | Path | None = None) -> list[dict]:
    """One row per claim (:func:`all_claims`): judged inside the chapter table of the largest budget
    that holds both of its conditions (:func:`judge_table`), with ``claim``, ``threshold``, ``verdict``,
    ``difference`` (text), ``where`` (table, preset, budget) and ``result`` (the numbers)."""
    root = Path(root) if root is not None else results_dir()
    candidates = []  # (rank, chapter name, preset, table), largest budget first
    for name in (n for n in _table_names(root) if _is_chapter(n)):
        for preset, t in load_tables(name, root).items():
            candidates.append((PRESET_RANK[preset], name, preset, t))
    candidates.sort(key=lambda c: (-c[0], c[1]))
    rows = []
    for cname, claim in all_claims().items():
        best = None
        for _, name, preset, t in candidates:
            r = judge_table(cname, t)
            if r["verdict"] != "not run":
                best = (r, name, preset, t)
                break
        if best is None:
            rows.append({"claim": cname, "threshold": claim.threshold(), "verdict": "not run", "difference": "",
                         "where": "", "result": None})
            continue
        r, name, preset, t = best
        rows_ = table_rows(t)
        stale = sorted({stale_reason(rows_[c], meta=t.meta) for c in claim.conditions() if c in rows_} - {""})
        text = describe(r, claim.column)
        diff = text[len(r["verdict"]):].strip()
        diff = diff[1:-1] if diff.startswith("(") and diff.endswith(")") else diff  # only the outer pair
        first = next(iter(table_rows(t).values()), {})
        where = f"{name} ({preset}: {_budget(t.meta, first)})" + (f"; {'; '.join(stale)}" if stale else "")
        rows.append({"claim": cname, "threshold": claim.threshold(), "verdict": r["verdict"], "difference": diff,
                     "where": where, "result": r, "table": name, "preset": preset, "stale": stale})
    return rows


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
