"""Sentences that cannot drift: the book's prose with every number, tier and trend taken from its tables.

A page such as ``book/findings.md`` is written from a template (``book/findings.md.j2``, Jinja2):
the interpretation is hand-written, every number, budget and trend in it is a call into :class:`Facts`, which
reads the committed tables under ``results/<preset>/``. ``python -m focusmim prose`` writes the pages;
``tests/test_prose.py`` fails when a written page differs from what its template gives on today's tables, when
a template types a result-like number or a trend word outside a call, and when any page of the book states a
result-like number that no committed table (nor the paper) holds.

Example:
    >>> from focusmim.experiments import Table
    >>> curves = Table("c", [{"condition": c, "epoch": e, "accuracy_mean": a} for c, e, a in [
    ...     ("a", 10, .30), ("a", 25, .34), ("a", 50, .40), ("b", 10, .20), ("b", 25, .22), ("b", 50, .25)]])
    >>> gap_trend(curves, "a", "b")
    'widens (10.0 -> 12.0 -> 15.0 points)'
    >>> fastest(curves, ["a", "b"])
    'a'
    >>> literal_problems("ours 41.8 % and {{ acc('x', 'y') }}, the gap widens")
    ["a result-like number typed by hand: '41.8 %'", "a trend word typed by hand: 'widens'"]
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from focusmim.book import report
from focusmim.chapters import ch01_readouts
from focusmim.evaluation.claims import Claim, at_budget, describe, judge
from focusmim.experiments import Table, load_tables, results_dir
from focusmim.utils.io import atomic_write_text
from focusmim.evaluation.paper import PAPER_ACCURACY, PAPER_COVERT_ERROR
from focusmim.config.presets import PRESET_RANK, PRESETS

__all__ = ["Facts", "gap_trend", "fastest", "literal_problems", "result_numbers", "table_numbers",
           "render", "write_pages", "PAGES", "TREND_WORDS", "unbacked_numbers", "curve_means"]

# the columns whose values prose quotes (fractions are quoted in percent)
SHOWN_COLUMNS = ("accuracy_mean", "accuracy_std", "knn", "finetune", "val_accuracy", "fraction_dropped", "iou_mean")
ROOT = Path(__file__).resolve().parents[2]
# committed measurements that hand-written pages (fixes, README) may quote besides the tables
MEASUREMENTS = ("benchmarks/results/*.json", "zoo/manifest.json")
# generated page -> its template
PAGES = {"book/findings.md": "book/findings.md.j2"}
# words that state a trend; in hand-written text they are an error (a generated call states them)
TREND_WORDS = ("fastest", "slowest", "widens", "narrows", "closes", "flattens", "plateaus", "levels off")
_CALL = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
# result-like numbers: a decimal or whole number followed by % or "points", or a decimal accuracy/difference
_RESULT = re.compile(r"(?<![\w.±])([+\-−]?\d+(?:\.\d+)?)\s?(%|points?\b)(?!\s(?:interval|confidence|Student))")


def curve_means(curves: Table) -> dict[str, dict[int, float]]:
    """condition -> epoch -> mean accuracy of a budget-curve table."""
    out: dict[str, dict[int, float]] = {}
    for r in curves.rows:
        if r.get("accuracy_mean") is not None and r.get("epoch") is not None:
            out.setdefault(r["condition"], {})[int(r["epoch"])] = float(r["accuracy_mean"])
    return out


def gap_trend(curves: Table, a: str, b: str) -> str:
    """Whether the ``a``-minus-``b`` gap widens, closes or neither over the curve's epochs, with the gaps."""
    m = curve_means(curves)
    epochs = sorted(set(m[a]) & set(m[b]))
    gaps = [100 * (m[a][e] - m[b][e]) for e in epochs]
    steps = [abs(y) - abs(x) for x, y in zip(gaps, gaps[1:])]
    word = ("widens" if all(s > 0 for s in steps) else "closes" if all(s < 0 for s in steps)
            else "moves both ways")
    return f"{word} ({' -> '.join(f'{g:.1f}' for g in gaps)} points)"


def fastest(curves: Table, conditions: Sequence[str], first: int | None = None, last: int | None = None) -> str:
    """The condition of ``conditions`` that gains the most accuracy between the first and last epochs."""
    m = curve_means(curves)
    gains = {}
    for c in conditions:
        es = sorted(m[c])
        gains[c] = m[c][last or es[-1]] - m[c][first or es[0]]
    return max(gains, key=gains.get)


def literal_problems(template: str) -> list[str]:
    """Result-like numbers and trend words in a template's hand-written text (outside ``{{ }}`` and ``{% %}``)."""
    text = _CALL.sub(" ", template)
    out = [f"a result-like number typed by hand: {m.group(0).strip()!r}" for m in _RESULT.finditer(text)]
    low = text.lower()
    out += [f"a trend word typed by hand: {w!r}" for w in TREND_WORDS if re.search(rf"\b{w}\b", low)]
    return out


def result_numbers(text: str) -> list[tuple[str, float]]:
    """``(as written, value)`` of every result-like number in ``text`` (percent and points)."""
    return [(m.group(0).strip(), float(m.group(1).replace("−", "-"))) for m in _RESULT.finditer(text)]


def _walk(obj: Any) -> Iterable[float]:
    if isinstance(obj, bool):
        return
    if isinstance(obj, (int, float)):
        yield float(obj)
    elif isinstance(obj, Mapping):
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _walk(v)


def _numbers_in_json(path: Path) -> set[float]:
    """Every number of a committed measurement (benchmark results, the zoo's manifest), as prose writes it."""
    import json

    vals = list(_walk(json.loads(path.read_text())))
    return {round(100 * v, 1) for v in vals if -1 <= v <= 1} | {round(v, 1) for v in vals}


def table_numbers(root: str | Path | None = None, extra: Iterable[str | Path] | None = None) -> set[float]:
    """The result-like numbers that committed files back, one decimal, as prose writes them: every table row's
    mean and spread in percent (:data:`SHOWN_COLUMNS`), the differences between the means of two rows of one
    table (points), the paper's accuracies (also rounded to whole percent, as prose quotes them) and their
    differences, and every number of the committed measurements ``extra`` (default: :data:`MEASUREMENTS`)."""
    import json

    root = Path(root) if root is not None else results_dir()
    out: set[float] = set()
    for p in root.glob("*/*.json"):
        rows = json.loads(p.read_text()).get("rows", [])
        means = [float(r["accuracy_mean"]) for r in rows if isinstance(r.get("accuracy_mean"), (int, float))]
        for r in rows:
            for c in SHOWN_COLUMNS:
                v = r.get(c)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.add(round(100 * v, 1) if -1 <= v <= 1 else round(float(v), 1))
        out.update(round(abs(100 * (x - y)), 1) for x in means for y in means)
    paper = list(PAPER_ACCURACY.values())
    out.update(round(100 * v, 1) for v in paper)
    out.update(float(round(100 * v)) for v in paper)
    out.update(round(abs(100 * (x - y)), 1) for x in paper for y in paper)
    for pattern in (MEASUREMENTS if extra is None else extra):
        for p in sorted(ROOT.glob(str(pattern))):
            out |= _numbers_in_json(p)
    return out


def unbacked_numbers(text: str, numbers: set[float], tolerance: float = 0.051) -> list[str]:
    """Result-like numbers in ``text`` that no committed table (nor the paper) holds, within rounding."""
    bad = []
    for written, v in result_numbers(text):
        if v.is_integer() and abs(v) <= 12 and "point" in written:  # "a 2-point margin", "within 5 points"
            continue
        if not any(abs(abs(v) - n) <= tolerance for n in numbers):
            bad.append(written)
    return bad


class Facts:
    """Numbers, budgets and trends of the committed tables, formatted for prose (the template's context)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else results_dir()
        self._cache: dict[tuple[str, str | None], Table] = {}

    def table(self, name: str, preset: str | None = None) -> Table:
        """The published table ``name`` at ``preset`` (default: its largest budget)."""
        key = (name, preset)
        if key not in self._cache:
            tables = load_tables(name, self.root)
            if not tables:
                raise KeyError(f"no published table {name!r} under {self.root}")
            if preset is None:
                preset = max(tables, key=PRESET_RANK.get)
            if preset not in tables:
                raise KeyError(f"table {name!r} has no {preset!r} tier; has {sorted(tables)}")
            self._cache[key] = tables[preset]
        return self._cache[key]

    def row(self, name: str, condition: str, preset: str | None = None) -> dict:
        return self.table(name, preset).row(condition)

    def pct(self, name: str, condition: str, preset: str | None = None, column: str = "accuracy_mean") -> str:
        """One value in percent, one decimal: ``52.7``."""
        return f"{100 * self.row(name, condition, preset)[column]:.1f}"

    def acc(self, name: str, condition: str, preset: str | None = None) -> str:
        """Mean ± std in percent: ``52.7 ± 0.8 %``."""
        r = self.row(name, condition, preset)
        return f"{100 * r['accuracy_mean']:.1f} ± {100 * (r.get('accuracy_std') or 0):.1f} %"

    def value(self, name: str, condition: str, column: str, preset: str | None = None, fmt: str = ".3g") -> str:
        return format(float(self.row(name, condition, preset)[column]), fmt)

    def diff(self, name: str, a: str, b: str, preset: str | None = None) -> str:
        """Difference of two rows' mean accuracies in points: ``+12.5``."""
        t = self.table(name, preset)
        return f"{100 * (t.row(a)['accuracy_mean'] - t.row(b)['accuracy_mean']):+.1f}"

    def paper(self, condition: str) -> str:
        """The paper's STL-10 accuracy, marked as the paper's: ``70.2 % (paper)``."""
        return f"{100 * PAPER_ACCURACY[condition]:.1f} % (paper)"

    def budget(self, name: str, preset: str | None = None) -> str:
        """What a table's runs cost: data set, size, images, epochs, seeds, device."""
        t = self.table(name, preset)
        m, rows = t.meta, [r for r in t.rows if r.get("pretrain_seeds")]
        seeds = sorted({s for r in rows for s in r["pretrain_seeds"]})
        devices = sorted({str(r["device"]) for r in rows if r.get("device")}) or [str(m.get("device_name", "?"))]
        images = m.get("n_unlabeled")
        images = "all training images" if images in (None, "all") else f"{int(images):,} images"
        return (f"{m.get('dataset')}, {m.get('image_size')} px, {images}, {m.get('epochs')} epochs, "
                f"{len(seeds)} pretraining seed{'s' * (len(seeds) != 1)}, {', '.join(devices)}")

    def tier(self, name: str) -> str:
        """The preset the book shows ``name`` at (its largest budget)."""
        tables = load_tables(name, self.root)
        return max(tables, key=PRESET_RANK.get)

    def curve(self, condition: str, epoch: int, name: str = "01_masking_strategy-curves") -> str:
        return f"{100 * curve_means(self.table(name))[condition][epoch]:.1f}"

    def gain(self, condition: str, first: int, last: int, name: str = "01_masking_strategy-curves") -> str:
        m = curve_means(self.table(name))[condition]
        return f"{100 * (m[last] - m[first]):+.1f}"

    def gap_trend(self, a: str, b: str, name: str = "01_masking_strategy-curves") -> str:
        return gap_trend(self.table(name), a, b)

    def fastest(self, conditions: Sequence[str], name: str = "01_masking_strategy-curves") -> str:
        return fastest(self.table(name), conditions)

    def has(self, name: str, preset: str | None = None) -> bool:
        """Whether the table ``name`` (at ``preset``) is published."""
        tables = load_tables(name, self.root)
        return bool(tables) and (preset is None or preset in tables)

    def ordering(self, name: str, preset: str | None = None, exclude: Sequence[str] = ()) -> list[str]:
        """The table's conditions by mean accuracy, best first."""
        rows = [r for r in self.table(name, preset).rows
                if r.get("accuracy_mean") is not None and r["condition"] not in exclude]
        return [r["condition"] for r in sorted(rows, key=lambda r: -r["accuracy_mean"])]

    def rank(self, name: str, condition: str, preset: str | None = None, exclude: Sequence[str] = ()) -> str:
        """``"5th of 6"``: the condition's place by mean accuracy."""
        order = self.ordering(name, preset, exclude)
        i = order.index(condition) + 1
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(i if i < 20 else i % 10, "th")
        return f"{i}{suffix} of {len(order)}"

    def relation(self, name: str, a: str, b: str, preset: str | None = None, other: str | None = None,
                 other_preset: str | None = None) -> str:
        """``"above"`` or ``"below"``: row ``a`` of ``name`` against row ``b`` (of ``other`` when given)."""
        va = self.row(name, a, preset)["accuracy_mean"]
        vb = self.row(other or name, b, other_preset if other else preset)["accuracy_mean"]
        return "above" if va > vb else "below" if va < vb else "level with"

    def claim(self, claim: str) -> dict:
        """The results page's record of ``claim`` (:func:`focusmim.book.report.verdict_of`)."""
        return report.verdict_of(claim, self.root)

    def judged(self, claim: str, name: str, preset: str | None = None) -> str:
        """``claim`` judged inside the table ``name`` at ``preset`` (verdict and difference, in words)."""
        rows = {r["condition"]: r for r in self.table(name, preset).rows}
        res = at_budget(judge(report.all_claims()[claim], rows), preset or self.tier(name))
        return describe(res)

    def claims(self) -> list[dict]:
        """Every claim's record on the results page, in its order."""
        return report.claim_records(self.root)

    headline = "imagenette"  # the book's headline tier: the paper's geometry on real photographs
    paper_epochs = PRESETS["paper"]["epochs"]
    chapter_tables = ("01_masking_strategy", "02_decorrelation", "03_augmentation", "04_object_loss",
                      "05_covert_attention-errors", "06_architectures", "07_learned_masks")

    def paper_ordering(self, conditions: Sequence[str]) -> list[str]:
        return sorted(conditions, key=lambda c: -PAPER_ACCURACY[c])

    def paper_rank(self, condition: str, conditions: Sequence[str]) -> str:
        i = self.paper_ordering(conditions).index(condition) + 1
        return f"{i}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(i, 'th')} of {len(conditions)}"

    def budget_ratio(self, name: str) -> str:
        """How many times the paper's epochs exceed the table's: ``10x``."""
        return f"{self.paper_epochs / self.table(name).meta['epochs']:.0f}x"

    def best_epochs(self, name: str) -> str:
        """The epochs at which the rows' reported checkpoints were reached (``epochs 47 to 50``)."""
        es = sorted({int(e) for r in self.table(name).rows for e in (r.get("decorrelation_epochs") or [])})
        if not es:
            return "epoch not recorded"
        return f"epoch {es[0]}" if len(es) == 1 else f"epochs {es[0]} to {es[-1]}"

    def slowdown(self, conditions: Sequence[str], name: str = "01_masking_strategy-curves") -> str:
        """One sentence per condition: does it gain less per epoch in the last interval than in the one before?"""
        m = curve_means(self.table(name))
        out = []
        for c in conditions:
            e = sorted(m[c])[-3:]
            early, late = (m[c][e[1]] - m[c][e[0]]) / (e[1] - e[0]), (m[c][e[2]] - m[c][e[1]]) / (e[2] - e[1])
            word = "less" if late < early else "more"
            out.append(f"The {c} gains {word} per epoch from {e[1]} to {e[2]} epochs "
                       f"({100 * (m[c][e[2]] - m[c][e[1]]):+.1f} points) than from {e[0]} to {e[1]} "
                       f"({100 * (m[c][e[1]] - m[c][e[0]]):+.1f}).")
        return " ".join(out)

    def selection_summary(self, preset: str, name: str = "01_masking_strategy-lr_selection") -> str:
        """Which rate won for each strategy, and whether it is the paper's."""
        t = self.table(name, preset)
        won = [r for r in t.rows if r.get("selected")]
        same = [r["strategy"] for r in won if r["lr"] == r["paper_rate"]]
        other = [f"{r['strategy']} ({r['lr']:g} instead of the paper's {r['paper_rate']:g})" for r in won
                 if r["lr"] != r["paper_rate"]]
        parts = []
        if same:
            parts.append(f"The paper's rate won for {', '.join(same)}.")
        if other:
            parts.append(f"Another rate won for {', '.join(other)}.")
        inherited = {k: v for k, v in t.meta.get("selected", {}).items() if k not in {r["strategy"] for r in won}}
        if inherited:
            parts.append("The blurred variants took their parent's: " +
                         ", ".join(f"{k} {v:g}" for k, v in inherited.items()) + ".")
        return " ".join(parts)

    def filter_kept(self, name: str = "04_object_loss-foreground") -> str:
        r = self.row(name, "paper filter on the pretraining split")
        return f"{r['kept']:,} of {r['n']:,}"

    def paper_covert(self) -> str:
        return f"{PAPER_COVERT_ERROR['without']:g} and {PAPER_COVERT_ERROR['with']:g} (paper)"

    def row_like(self, name: str, prefix: str, preset: str | None = None) -> str:
        """The first condition of ``name`` that starts with ``prefix``."""
        return next(r["condition"] for r in self.table(name, preset).rows if r["condition"].startswith(prefix))

    def judged_pair(self, name: str, a: str, b: str, preset: str | None = None) -> str:
        """``a`` minus ``b`` paired by pretraining seed, with its 95 % interval, in words."""
        rows = {r["condition"]: r for r in self.table(name, preset).rows}
        res = at_budget(judge(Claim(a, ">", b), rows), preset or self.tier(name))
        return describe(res).replace(": the interval straddles the threshold", "")

    def best_ratio(self, strategy: str, name: str = "01_masking_strategy-sweep") -> str:
        rows = [r for r in self.table(name).rows if r["condition"].startswith(strategy + ", ratio")]
        best = max(rows, key=lambda r: r["accuracy_mean"])
        return f"ratio {best['condition'].rsplit(' ', 1)[1]} ({100 * best['accuracy_mean']:.1f} %)"

    def sweep_below(self, name: str = "01_masking_strategy-sweep") -> str:
        t = self.table(name)
        by = {r["condition"]: r["accuracy_mean"] for r in t.rows}
        ratios = sorted({c.rsplit(" ", 1)[1] for c in by})
        gaps = [100 * (by[f"random patches, ratio {r}"] - by[f"masked periphery, ratio {r}"]) for r in ratios
                if f"random patches, ratio {r}" in by and f"masked periphery, ratio {r}" in by]
        return f"by {min(gaps):.1f} to {max(gaps):.1f} points"

    def readout_summary(self) -> str:
        """The readout check's generated summary (:func:`focusmim.chapters.ch01_readouts.readout_text`)."""
        return ch01_readouts.readout_text(self.table(ch01_readouts.TABLE))

    def epochs(self, name: str = "01_masking_strategy-curves") -> list[int]:
        return sorted({int(r["epoch"]) for r in self.table(name).rows})


def render(template: str | Path, facts: Facts | None = None, **context) -> str:
    """A page from its Jinja2 template, with :class:`Facts` as ``f`` (and ``context``) in scope."""
    import jinja2

    path = Path(template)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(path.parent)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    return env.get_template(path.name).render(f=facts or Facts(), **context)


def write_pages(root: str | Path | None = None, pages: Mapping[str, str] | None = None,
                context: Mapping[str, Any] | None = None) -> list[Path]:
    """Write every generated page (:data:`PAGES`) from its template; returns the pages written."""
    base = Path(root) if root is not None else ROOT
    facts = Facts()
    out = []
    for page, template in (pages or PAGES).items():
        text = render(base / template, facts, **dict(context or {}))
        atomic_write_text(text, base / page)
        out.append(base / page)
    return out

