"""A claim's size against the paper's: the paper's own difference between the two conditions, placed against our
95 % interval in the claim's direction (consistent with, smaller or larger than the paper's).

Example:
    >>> direction(">"), direction("<")
    (1, -1)
"""
from __future__ import annotations
import math
from typing import Mapping

from .claims import OPS, AllOf


SIZE_VERDICTS = ("consistent with the paper's size", "smaller than the paper's", "larger than the paper's",
                 "inconclusive")


def paper_difference(claim, paper: Mapping[str, float]):
    """The paper's own difference ``a - b`` for ``claim`` from its values (condition -> value, in the claim
    column's units); ``None`` when the paper has no number for a condition. For :class:`AllOf`, a tuple with
    one entry per part.

        >>> from focusmim.evaluation.claims import Claim
        >>> round(paper_difference(Claim("a", ">", "b"), {"a": 0.702, "b": 0.679}), 3)
        0.023
        >>> paper_difference(Claim("a", "<", "c"), {"a": 0.702}) is None
        True
        >>> paper_difference(AllOf((Claim("a", ">", "b"), Claim("c", ">", "b"))), {"a": 0.5, "b": 0.25})
        (0.25, None)
    """
    if isinstance(claim, AllOf):
        return tuple(paper_difference(c, paper) for c in claim.claims)
    if claim.a not in paper or claim.b not in paper or paper[claim.a] is None or paper[claim.b] is None:
        return None
    return float(paper[claim.a]) - float(paper[claim.b])


def direction(op: str, paper_diff: float | None = None, diff: float | None = None) -> int:
    """``+1`` or ``-1``: the sign that turns a difference ``a - b`` into the effect in the claim's direction.
    ``>``, ``>>``, ``>=``: +1; ``<``: -1; ``~`` (no direction of its own): the sign of the paper's
    difference, or of ours (``diff``) where the paper's is zero or missing, else +1.

        >>> direction(">="), direction("<"), direction("~", -0.02), direction("~", 0.0, -0.01)
        (1, -1, -1, -1)
    """
    if op not in OPS:
        raise ValueError(f"op={op!r} is not allowed; allowed: {', '.join(OPS)}")
    if op == "<":
        return -1
    if op != "~":
        return 1
    for v in (paper_diff, diff):
        if v is not None and not math.isnan(v) and v != 0:
            return 1 if v > 0 else -1
    return 1


def _points(v: float, column: str) -> str:
    return f"{100 * v:+.1f}" if column == "accuracy" else f"{v:+.3g}"


def size_verdict(result: Mapping, paper_diff, column: str = "accuracy") -> dict:
    """Whether the paper's difference lies inside our 95 % interval: ``size`` (one of
    :data:`SIZE_VERDICTS`, or ``not run`` when the claim was not run) and ``size_reason`` (in words).

    ``result`` is :func:`judge`'s (it carries the claim's ``op``); ``paper_diff`` the paper's difference a - b
    (:func:`paper_difference`; ``None``: no paper number). Sizes are compared in the claim's direction
    (:func:`direction`): "smaller" means our effect in the direction the claim states is smaller than the
    paper's over the whole interval, an effect of the opposite sign included; "larger" the reverse. No paper
    number, or no interval (one pretraining seed), is "inconclusive", never a size claim. A claim of several
    parts (:class:`AllOf`) takes its parts' size when they agree, else "inconclusive".

        >>> r = {"verdict": "holds", "op": ">=", "diff": 0.125, "low": 0.080, "high": 0.170, "n": 3}
        >>> size_verdict(r, 0.023)["size"], size_verdict(r, 0.10)["size"], size_verdict(r, 0.30)["size"]
        ("larger than the paper's", "consistent with the paper's size", "smaller than the paper's")
        >>> size_verdict(r, None)
        {'size': 'inconclusive', 'size_reason': 'no paper number'}
        >>> size_verdict({**r, "low": None, "high": None, "n": 1}, 0.023)["size_reason"]
        'one pretraining seed: no interval'
        >>> size_verdict({"verdict": "holds", "op": "<", "diff": -0.05, "low": -0.07, "high": -0.03, "n": 3},
        ...              -0.137)["size"]  # blur costs us 3-7 points, the paper 13.7
        "smaller than the paper's"
    """
    if result.get("parts") is not None:
        diffs = tuple(paper_diff) if isinstance(paper_diff, (tuple, list)) else (paper_diff,) * len(result["parts"])
        if len(diffs) != len(result["parts"]):
            raise ValueError(f"paper_diff has {len(diffs)} entries for {len(result['parts'])} parts; allowed: one "
                             f"per part (paper_difference of the AllOf claim)")
        parts = [size_verdict(p, d, column) for p, d in zip(result["parts"], diffs)]
        sizes = [p["size"] for p in parts]
        if "not run" in sizes:
            return {"size": "not run", "size_reason": result.get("reason", "")}
        reasons = "; ".join(dict.fromkeys(p["size_reason"] for p in parts if p["size_reason"]))
        if len(set(sizes)) == 1:
            return {"size": sizes[0], "size_reason": reasons}
        return {"size": "inconclusive", "size_reason": f"the parts differ ({', '.join(sizes)})"}
    if result.get("verdict") == "not run":
        return {"size": "not run", "size_reason": result.get("reason", "")}
    reasons = []
    if paper_diff is None or (isinstance(paper_diff, float) and math.isnan(paper_diff)):
        reasons.append("no paper number")
    lo, hi = result.get("low"), result.get("high")
    if result.get("diff") is None:
        reasons.append(result.get("reason") or "no per-seed values")
    elif lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        reasons.append("one pretraining seed: no interval")
    if reasons:
        return {"size": "inconclusive", "size_reason": "; ".join(reasons)}
    s = direction(result["op"], paper_diff, result["diff"])
    e_lo, e_hi = sorted((s * lo, s * hi))
    p = s * paper_diff
    where = (f"the paper's {_points(paper_diff, column)} is {{}} our interval "
             f"[{_points(lo, column)}, {_points(hi, column)}]")
    if p < e_lo:
        return {"size": "larger than the paper's", "size_reason": where.format("below" if s > 0 else "above")}
    if p > e_hi:
        return {"size": "smaller than the paper's", "size_reason": where.format("above" if s > 0 else "below")}
    return {"size": "consistent with the paper's size", "size_reason": where.format("inside")}
