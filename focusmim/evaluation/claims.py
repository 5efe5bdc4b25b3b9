"""Claims judged inside one controlled comparison, with an interval over pretraining seeds.

A claim compares two conditions of one table (same budget, same pretraining seeds, same probe): its
statistic is the per-seed difference ``d_s = a_s - b_s`` (paired by pretraining seed; a condition without
pretraining, such as raw pixels, enters as the constant it is), summarised by its mean and a 95 % Student-t
interval over the seeds. Three verdicts:

* ``holds``: the whole interval lies on the claim's side of its threshold;
* ``does not hold``: the whole interval lies on the other side;
* ``inconclusive``: the interval straddles the threshold, or there are too few pretraining seeds (fewer
  than two) to have an interval at all. A small budget or one seed never reads as "does not hold".

Each claim states its threshold (its margin, in accuracy points where the column is an accuracy):
``a > b`` (threshold 0), ``a >> b`` (a beats b by more than the margin), ``a >= b`` (a is at most the margin
below b), ``a < b`` (a is below b by more than the margin), ``a ~ b`` (the two differ by less than the margin:
the interval must lie within +-margin).

Beside the sign, a claim's *size* against the paper's (:func:`focusmim.evaluation.sizes.size_verdict`): the paper's own difference
between the two conditions (:func:`focusmim.evaluation.sizes.paper_difference`), placed against our 95 % interval. Sizes are compared
in the claim's direction, the effect ``e = s * (a - b)`` with ``s = +1`` for ``>``, ``>>``, ``>=`` and
``s = -1`` for ``<`` (for ``~``, the sign of the paper's difference, or of ours where the paper's is zero):

* ``consistent with the paper's size``: the paper's difference lies inside our interval;
* ``smaller than the paper's``: our whole interval lies below the paper's effect in the claim's direction
  (an effect of the opposite sign counts as smaller);
* ``larger than the paper's``: our whole interval lies above it;
* ``inconclusive``: no paper number for a condition, or one pretraining seed (no interval): never a size claim.

Pure functions of table rows (plain dicts), as the losses are: nothing is trained or loaded.

Example:
    >>> rows = {"random patches": {"seed_accuracies": [0.52, 0.50, 0.53], "pretrain_seeds": [0, 1, 2]},
    ...         "masked periphery": {"seed_accuracies": [0.43, 0.38, 0.40], "pretrain_seeds": [0, 1, 2]}}
    >>> r = judge(Claim("random patches", ">=", "masked periphery", 0.01), rows)
    >>> r["verdict"], round(r["diff"], 3), r["n"]
    ('holds', 0.113, 3)
    >>> judge(Claim("random patches", ">=", "masked periphery", 0.01),
    ...       {k: {**v, "seed_accuracies": v["seed_accuracies"][:1], "pretrain_seeds": [0]} for k, v in rows.items()}
    ...       )["verdict"]
    'inconclusive'
    >>> from focusmim.evaluation.sizes import paper_difference, size_verdict
    >>> paper = {"random patches": 0.702, "masked periphery": 0.679}
    >>> size_verdict(r, paper_difference(Claim("random patches", ">=", "masked periphery", 0.01), paper))["size"]
    "larger than the paper's"
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence


__all__ = ["Claim", "AllOf", "judge", "seed_values", "t_interval", "VERDICTS", "describe", "OPS",
           "at_budget", "SMALL_BUDGET_TIERS"]

VERDICTS = ("holds", "does not hold", "inconclusive")
OPS = (">", ">>", ">=", "<", "~")
LEVEL = 0.95


@dataclass(frozen=True)
class Claim:
    """``a op b`` with a ``margin`` (in the column's units) on ``column`` (``accuracy``: the linear probe's
    accuracy per pretraining seed; another name: a per-seed list ``<column>_seeds`` in the rows)."""

    a: str
    op: str
    b: str
    margin: float = 0.0
    column: str = "accuracy"

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"op={self.op!r} is not allowed; allowed: {', '.join(OPS)}")
        if not self.margin >= 0:
            raise ValueError(f"margin={self.margin!r} is not allowed; allowed: a number >= 0")

    def threshold(self) -> str:
        """The claim in words, with its margin (accuracy columns in points)."""
        pts = 100 * self.margin
        m = (f"{pts:g} point{'s' if pts != 1 else ''}") if self.column == "accuracy" else f"{self.margin:g}"
        return {">": f"{self.a} > {self.b}",
                ">>": f"{self.a} > {self.b} + {m}",
                ">=": f"{self.a} >= {self.b} - {m}" if self.margin else f"{self.a} >= {self.b}",
                "<": f"{self.a} < {self.b} - {m}" if self.margin else f"{self.a} < {self.b}",
                "~": f"{self.a} within {m} of {self.b}"}[self.op]

    def conditions(self) -> tuple[str, ...]:
        return (self.a, self.b)

    def on_means(self, values: Mapping[str, float]) -> bool | None:
        """The threshold applied to mean values alone (condition -> mean), without an interval; None when a
        condition is missing.

            >>> Claim("a", ">=", "b", 0.01).on_means({"a": 0.70, "b": 0.709}), Claim("a", ">", "c").on_means({"a": 1})
            (True, None)
        """
        if self.a not in values or self.b not in values:
            return None
        d = values[self.a] - values[self.b]
        return {">": d > 0, ">>": d > self.margin, ">=": d >= -self.margin, "<": d < -self.margin,
                "~": abs(d) < self.margin}[self.op]


@dataclass(frozen=True)
class AllOf:
    """Several claims that must all hold (e.g. one per strategy)."""

    claims: tuple

    def threshold(self) -> str:
        return " and ".join(c.threshold() for c in self.claims)

    def conditions(self) -> tuple[str, ...]:
        return tuple(x for c in self.claims for x in c.conditions())

    @property
    def column(self) -> str:
        return self.claims[0].column

    def on_means(self, values: Mapping[str, float]) -> bool | None:
        """Every part's :meth:`Claim.on_means`; None when a condition is missing."""
        parts = [c.on_means(values) for c in self.claims]
        return None if None in parts else all(parts)


def t_quantile(df: int, level: float = LEVEL) -> float:
    """Two-sided Student-t quantile (scipy)."""
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2, df))


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """``(mean, low, high)`` of a Student-t interval; ``low = high = nan`` for fewer than two values.

        >>> [round(v, 3) for v in t_interval([1.0, 2.0, 3.0])]
        [2.0, -0.484, 4.484]
    """
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(n - 1, level) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def seed_values(row: Mapping, column: str = "accuracy", probe_n: int | None = None) -> dict | float | None:
    """A row's values per pretraining seed (``{seed: value}``), a constant (a condition without pretraining
    seeds, such as raw pixels: its mean), or ``None`` when the row holds neither.

    Accuracy rows store ``seed_accuracies``; older tables only the flat ``accuracies`` over (seed, probe
    seed), split here into ``probe_n`` probe seeds per pretraining seed."""
    seeds = row.get("pretrain_seeds")
    if column == "accuracy":
        per = row.get("seed_accuracies")
        if per is None and seeds and row.get("accuracies") and probe_n and len(row["accuracies"]) == len(seeds) * probe_n:
            flat = row["accuracies"]
            per = [sum(flat[i * probe_n:(i + 1) * probe_n]) / probe_n for i in range(len(seeds))]
        if per is None and seeds and len(seeds) == 1 and row.get("accuracy_mean") is not None:
            per = [row["accuracy_mean"]]  # one pretraining seed: its mean over probe seeds
        if per is None and not seeds and row.get("accuracy_mean") is not None:
            return float(row["accuracy_mean"])
    else:
        per = row.get(f"{column}_seeds", row.get(f"{column} values"))  # chapter 5 names them '<region> values'
        mean = row.get(f"{column}_mean", row.get(f"{column} mean"))
        if per is None and seeds and len(seeds) == 1 and mean is not None:
            per = [mean]  # one pretraining seed: its value
        if per is None and not seeds and mean is not None:
            return float(mean)
    if per is None or not seeds or len(per) != len(seeds):
        return None
    return dict(zip(seeds, per))


def has_column(row: Mapping, column: str) -> bool:
    """Whether a table row holds ``column`` at all (per seed or as a mean)."""
    if column == "accuracy":
        return any(row.get(k) is not None for k in ("accuracy_mean", "seed_accuracies", "accuracies"))
    return any(row.get(k) is not None for k in (f"{column}_seeds", f"{column}_mean", f"{column} mean"))


def _verdict(op: str, margin: float, lo: float, hi: float) -> str:
    if math.isnan(lo):
        return "inconclusive"
    if op in (">", ">>"):
        t = margin if op == ">>" else 0.0
        return "holds" if lo > t else "does not hold" if hi < t else "inconclusive"
    if op == ">=":
        return "holds" if lo > -margin else "does not hold" if hi < -margin else "inconclusive"
    if op == "<":
        return "holds" if hi < -margin else "does not hold" if lo > -margin else "inconclusive"
    # "~": the interval inside (-margin, margin)
    if -margin < lo and hi < margin:
        return "holds"
    return "does not hold" if lo >= margin or hi <= -margin else "inconclusive"


def judge(claim, rows: Mapping[str, Mapping], probe_n: int | None = None) -> dict:
    """Judge ``claim`` (:class:`Claim` or :class:`AllOf`) on ``rows`` (condition -> table row) of one table.

    Returns ``verdict`` (one of :data:`VERDICTS`, or ``not run`` when a condition is missing), ``diff``
    (mean per-seed difference a - b), ``low``/``high`` (95 % interval), ``n`` (pretraining seeds paired),
    ``reason`` (why inconclusive) and ``claim`` (its threshold in words)."""
    if isinstance(claim, AllOf):
        parts = [judge(c, rows, probe_n) for c in claim.claims]
        vs = [p["verdict"] for p in parts]
        verdict = ("not run" if "not run" in vs else "does not hold" if "does not hold" in vs
                   else "holds" if all(v == "holds" for v in vs) else "inconclusive")
        return {"verdict": verdict, "parts": parts, "claim": claim.threshold(), "n": min(p["n"] for p in parts),
                "diff": None, "low": None, "high": None,
                "reason": "; ".join(p["reason"] for p in parts if p.get("reason"))}
    out = {"claim": claim.threshold(), "op": claim.op, "diff": None, "low": None, "high": None, "n": 0, "reason": ""}
    if claim.a not in rows or claim.b not in rows:
        missing = [c for c in claim.conditions() if c not in rows]
        return {**out, "verdict": "not run", "reason": f"not in this table: {', '.join(missing)}"}
    if not all(has_column(rows[c], claim.column) for c in claim.conditions()):
        return {**out, "verdict": "not run", "reason": f"no column {claim.column!r} in this table"}
    va, vb = seed_values(rows[claim.a], claim.column, probe_n), seed_values(rows[claim.b], claim.column, probe_n)
    if va is None or vb is None:
        return {**out, "verdict": "inconclusive", "reason": "no per-seed values stored"}
    if isinstance(va, dict) and isinstance(vb, dict):
        common = sorted(set(va) & set(vb))
        diffs = [va[s] - vb[s] for s in common]
    elif isinstance(va, dict):
        diffs = [v - vb for v in va.values()]
    elif isinstance(vb, dict):
        diffs = [va - v for v in vb.values()]
    else:
        diffs = [va - vb]
    if not diffs:
        return {**out, "verdict": "inconclusive", "reason": "no pretraining seed in common"}
    mean, lo, hi = t_interval(diffs)
    verdict = _verdict(claim.op, claim.margin, lo, hi)
    reason = ""
    if len(diffs) < 2:
        reason = "one pretraining seed: no interval"
    elif verdict == "inconclusive":
        reason = "the interval straddles the threshold"
    return {**out, "verdict": verdict, "diff": mean, "low": None if math.isnan(lo) else lo,
            "high": None if math.isnan(hi) else hi, "n": len(diffs), "reason": reason}


# The tiers that test the pipeline, not the paper (minutes of CPU on synthetic images or 32 px CIFAR-10): an
# interval that lies against a claim there says the budget is too small, not that the paper is wrong.
SMALL_BUDGET_TIERS = ("smoke", "cpu")


def at_budget(result: Mapping, tier: str | None) -> dict:
    """``result`` (:func:`judge`) as said at ``tier``: at a small-budget tier (:data:`SMALL_BUDGET_TIERS`) a
    "does not hold" reads "inconclusive", with the reason, since too small a budget never shows that a claim
    does not hold; elsewhere unchanged.

        >>> r = {"verdict": "does not hold", "diff": -0.03, "low": -0.04, "high": -0.02, "n": 3, "reason": ""}
        >>> describe(at_budget(r, "cpu"))
        'inconclusive (difference -3.0 points, 95 % interval [-4.0, -2.0], 3 pretraining seeds: against the claim at the cpu tier, a budget too small to say it does not hold)'
        >>> at_budget(r, "imagenette")["verdict"]
        'does not hold'
    """
    out = dict(result)
    if tier not in SMALL_BUDGET_TIERS:
        return out
    if out.get("parts") is not None:
        out["parts"] = [at_budget(p, tier) for p in out["parts"]]
        vs = [p["verdict"] for p in out["parts"]]
        if out["verdict"] == "does not hold":
            out["verdict"] = "holds" if all(v == "holds" for v in vs) else "inconclusive"
        return out
    if out.get("verdict") == "does not hold":
        out.update(verdict="inconclusive",
                   reason=f"against the claim at the {tier} tier, a budget too small to say it does not hold")
    return out


def describe(result: Mapping, column: str = "accuracy") -> str:
    """``verdict (a - b = +x.x points, 95 % CI [lo, hi], n seeds)`` in one line.

        >>> describe({"verdict": "holds", "diff": 0.1, "low": 0.05, "high": 0.15, "n": 3, "reason": ""})
        'holds (difference +10.0 points, 95 % interval [+5.0, +15.0], 3 pretraining seeds)'
    """
    v = result["verdict"]
    if result.get("parts") is not None:
        return f"{v} ({'; '.join(describe(p, column) for p in result['parts'])})"
    if result.get("diff") is None:
        return f"{v}" + (f" ({result['reason']})" if result.get("reason") else "")
    if column == "accuracy":  # in points
        fmt = lambda v: f"{100 * v:+.1f}"  # noqa: E731
        unit = " points"
    else:  # three significant digits (errors are small numbers, covariance terms large ones)
        fmt = lambda v: f"{v:+.3g}"  # noqa: E731
        unit = ""
    d = f"difference {fmt(result['diff'])}{unit}"
    if result.get("low") is not None:
        d += f", 95 % interval [{fmt(result['low'])}, {fmt(result['high'])}]"
    d += f", {result['n']} pretraining seed{'s' if result['n'] != 1 else ''}"
    if result.get("reason") and v == "inconclusive" and result["n"] > 1:
        d += f": {result['reason']}"
    elif result["n"] == 1:
        d += ": no interval"
    return f"{v} ({d})"


