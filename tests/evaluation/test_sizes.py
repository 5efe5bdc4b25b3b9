"""focusmim.evaluation.sizes: a claim's size against the paper's, in the claim's direction."""
import math

import pytest

from focusmim.evaluation.claims import AllOf, Claim, judge
from focusmim.evaluation.sizes import SIZE_VERDICTS, direction, paper_difference, size_verdict


def rows(**conds):
    return {c: {"seed_accuracies": list(v), "pretrain_seeds": list(range(len(v)))} for c, v in conds.items()}


def _res(op, diff, low, high, n=3, verdict="holds"):
    return {"verdict": verdict, "op": op, "diff": diff, "low": low, "high": high, "n": n, "reason": ""}


@pytest.mark.parametrize("op,interval,paper,size", [
    # today's patches - periphery: the paper's +2.3 below our [+8.0, +17.0]
    (">=", (0.125, 0.080, 0.170), 0.023, "larger than the paper's"),
    (">=", (0.125, 0.080, 0.170), 0.080, "consistent with the paper's size"),  # on the edge: inside
    (">=", (0.125, 0.080, 0.170), 0.170, "consistent with the paper's size"),
    (">>", (-0.034, -0.100, 0.032), 0.180, "smaller than the paper's"),  # ours may even be reversed
    (">", (0.063, 0.044, 0.082), 0.111, "smaller than the paper's"),
    # '<' claims: the effect is b - a; the paper's blur costs 13.7 points, ours 3.4-7.0
    ("<", (-0.052, -0.070, -0.034), -0.137, "smaller than the paper's"),
    ("<", (-0.052, -0.070, -0.034), -0.010, "larger than the paper's"),
    ("<", (0.002, -0.066, 0.069), -0.189, "smaller than the paper's"),  # ours straddles zero
    ("<", (0.002, -0.066, 0.069), -0.020, "consistent with the paper's size"),
    # '~' claims take the paper's sign; with the paper at zero, ours: any interval off zero is larger
    ("~", (-0.000, -0.007, 0.007), 0.029, "smaller than the paper's"),
    ("~", (0.012, 0.005, 0.020), 0.0, "larger than the paper's"),
    ("~", (-0.012, -0.020, -0.005), 0.0, "larger than the paper's"),
    ("~", (0.002, -0.005, 0.010), 0.0, "consistent with the paper's size"),
    ("~", (-0.030, -0.040, -0.020), -0.050, "smaller than the paper's"),
])
def test_size_is_the_papers_difference_against_our_interval_in_the_claims_direction(op, interval, paper, size):
    got = size_verdict(_res(op, *interval), paper)
    assert got["size"] == size, got
    assert got["size"] in SIZE_VERDICTS and "our interval [" in got["size_reason"]


def test_size_reasons_say_where_the_papers_difference_lies():
    assert size_verdict(_res(">=", 0.125, 0.08, 0.17), 0.023)["size_reason"] == (
        "the paper's +2.3 is below our interval [+8.0, +17.0]")
    assert size_verdict(_res("<", -0.05, -0.07, -0.03), -0.137)["size_reason"] == (
        "the paper's -13.7 is below our interval [-7.0, -3.0]")
    assert size_verdict(_res("<", 6e-4, -3e-4, 1.6e-3), -3e-3, column="foreground")["size_reason"] == (
        "the paper's -0.003 is below our interval [-0.0003, +0.0016]")


def test_no_paper_number_or_no_interval_is_inconclusive_never_a_size():
    assert size_verdict(_res(">", 0.1, 0.05, 0.15), None) == {"size": "inconclusive", "size_reason": "no paper number"}
    assert size_verdict(_res(">", 0.1, 0.05, 0.15), math.nan)["size"] == "inconclusive"
    one = size_verdict(_res("<", 0.001, None, None, n=1, verdict="inconclusive"), -0.112)
    assert one == {"size": "inconclusive", "size_reason": "one pretraining seed: no interval"}
    both = size_verdict(_res("<", 0.001, None, None, n=1, verdict="inconclusive"), None)
    assert both["size_reason"] == "no paper number; one pretraining seed: no interval"
    assert size_verdict({"verdict": "not run", "op": ">", "diff": None, "low": None, "high": None, "n": 0,
                         "reason": "not in this table: x"}, 0.1) == {"size": "not run",
                                                                     "size_reason": "not in this table: x"}
    # judged from rows: one seed stays inconclusive whatever the paper says
    r = judge(Claim("a", ">", "b"), rows(a=[0.6], b=[0.5]))
    assert size_verdict(r, paper_difference(Claim("a", ">", "b"), {"a": 0.7, "b": 0.6}))["size"] == "inconclusive"


def test_a_claim_of_several_parts_has_a_size_only_when_its_parts_agree():
    both = AllOf((Claim("a", ">", "b"), Claim("c", ">", "b")))
    r = judge(both, rows(a=[0.55, 0.56, 0.57], b=[0.45, 0.45, 0.45], c=[0.50, 0.51, 0.52]))
    assert paper_difference(both, {"a": 0.6, "b": 0.5}) == (pytest.approx(0.1), None)
    assert size_verdict(r, (0.01, 0.01))["size"] == "larger than the paper's"
    mixed = size_verdict(r, (0.01, 0.30))
    assert mixed["size"] == "inconclusive" and "parts differ" in mixed["size_reason"]
    assert size_verdict(r, (None, None)) == {"size": "inconclusive", "size_reason": "no paper number"}
    with pytest.raises(ValueError, match="one per part"):
        size_verdict(r, (0.1, 0.1, 0.1))


def test_direction_of_each_kind_of_claim():
    assert [direction(op) for op in (">", ">>", ">=", "<")] == [1, 1, 1, -1]
    assert direction("~", 0.02) == 1 and direction("~", -0.02) == -1 and direction("~", 0.0, -0.1) == -1
    assert direction("~") == 1 and direction("~", None, math.nan) == 1
    with pytest.raises(ValueError, match="op="):
        direction("=")
