"""focusmim.claims: per-seed differences inside one table, a 95 % interval, three verdicts."""
import math

import pytest

from focusmim.claims import (SIZE_VERDICTS, AllOf, Claim, describe, direction, judge, paper_difference,
                             seed_values, size_verdict, t_interval)


def rows(**conds):
    return {c: {"seed_accuracies": list(v), "pretrain_seeds": list(range(len(v)))} for c, v in conds.items()}


def test_the_interval_is_students_t_and_needs_two_values():
    mean, lo, hi = t_interval([0.1, 0.2, 0.3, 0.4])
    assert mean == pytest.approx(0.25) and hi - mean == pytest.approx(3.182446 * 0.1290994 / 2, rel=1e-5)
    assert math.isnan(t_interval([0.3])[1])


@pytest.mark.parametrize("op,margin,a,verdict", [
    (">", 0.0, [0.50, 0.52, 0.51], "holds"),
    (">", 0.0, [0.40, 0.41, 0.39], "does not hold"),
    (">", 0.0, [0.46, 0.50, 0.44], "inconclusive"),   # straddles zero
    (">>", 0.02, [0.465, 0.47, 0.468], "inconclusive"),  # above b, but not surely by 2 points
    (">>", 0.02, [0.50, 0.51, 0.505], "holds"),
    (">=", 0.01, [0.445, 0.447, 0.446], "holds"),      # 0.4 points below b: within the 1-point margin
    (">=", 0.01, [0.40, 0.41, 0.405], "does not hold"),
    ("<", 0.0, [0.40, 0.41, 0.405], "holds"),
    ("~", 0.05, [0.44, 0.46, 0.455], "holds"),
    ("~", 0.05, [0.60, 0.62, 0.61], "does not hold"),
    ("~", 0.05, [0.40, 0.52, 0.47], "inconclusive"),
])
def test_each_kind_of_claim_has_three_verdicts(op, margin, a, verdict):
    r = judge(Claim("a", op, "b", margin), rows(a=a, b=[0.45, 0.45, 0.45]))
    assert r["verdict"] == verdict, r
    assert r["n"] == 3 and r["low"] <= r["diff"] <= r["high"]


def test_one_seed_or_a_missing_condition_is_never_does_not_hold():
    one = judge(Claim("a", ">", "b"), rows(a=[0.1], b=[0.9]))
    assert one["verdict"] == "inconclusive" and "one pretraining seed" in one["reason"]
    assert judge(Claim("a", ">", "c"), rows(a=[0.1], b=[0.9]))["verdict"] == "not run"


def test_seeds_are_paired_and_a_constant_condition_is_subtracted():
    r = rows(a=[0.5, 0.6, 0.7], b=[0.4, 0.5, 0.6])
    r["b"]["pretrain_seeds"] = [2, 1, 0]  # b's values belong to other seeds: pairing follows the seeds
    assert judge(Claim("a", ">", "b"), r)["diff"] == pytest.approx((0.5 - 0.6 + 0.6 - 0.5 + 0.7 - 0.4) / 3)
    raw = {"condition": "raw", "accuracy_mean": 0.3, "pretrain_seeds": []}
    assert seed_values(raw) == 0.3
    assert judge(Claim("a", ">", "raw"), {**rows(a=[0.5, 0.6, 0.7]), "raw": raw})["diff"] == pytest.approx(0.3)


def test_older_tables_split_their_flat_accuracies_by_probe_seed():
    row = {"accuracies": [0.1, 0.3, 0.5, 0.7], "pretrain_seeds": [0, 1], "accuracy_mean": 0.4}
    assert seed_values(row, probe_n=2) == {0: pytest.approx(0.2), 1: pytest.approx(0.6)}
    assert seed_values(row) is None  # without the probe count the split is unknown


def test_other_columns_use_their_per_seed_lists_and_all_of_needs_every_part():
    dec = {"a": {"decorrelation_seeds": [1.0, 1.1, 0.9], "pretrain_seeds": [0, 1, 2]},
           "b": {"decorrelation_seeds": [3.0, 3.2, 2.8], "pretrain_seeds": [0, 1, 2]}}
    assert judge(Claim("a", "<", "b", column="decorrelation"), dec)["verdict"] == "holds"
    both = AllOf((Claim("a", ">", "b"), Claim("c", ">", "b")))
    r = rows(a=[0.5, 0.52, 0.51], b=[0.45, 0.45, 0.45], c=[0.46, 0.50, 0.44])
    assert judge(both, r)["verdict"] == "inconclusive"
    assert "holds" in describe(judge(both, r)) and "inconclusive" in describe(judge(both, r))
    # chapter 5's error rows name their per-seed lists '<region> values'
    err = {"a": {"foreground values": [0.040, 0.041, 0.042], "foreground mean": 0.041, "pretrain_seeds": [0, 1, 2]},
           "b": {"foreground values": [0.050, 0.052, 0.051], "foreground mean": 0.051, "pretrain_seeds": [0, 1, 2]}}
    res = judge(Claim("a", "<", "b", column="foreground"), err)
    assert res["verdict"] == "holds" and res["n"] == 3 and res["diff"] == pytest.approx(-0.01)


def test_bad_claims_are_refused():
    with pytest.raises(ValueError, match="op='=>' is not allowed"):
        Claim("a", "=>", "b")
    with pytest.raises(ValueError, match="margin"):
        Claim("a", ">", "b", -0.1)


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


def test_a_small_budget_never_says_does_not_hold():
    from focusmim.claims import AllOf, Claim, at_budget, judge

    rows = {"a": {"seed_accuracies": [0.30, 0.31, 0.32], "pretrain_seeds": [0, 1, 2]},
            "b": {"seed_accuracies": [0.40, 0.41, 0.42], "pretrain_seeds": [0, 1, 2]}}
    res = judge(Claim("a", ">", "b"), rows)
    assert res["verdict"] == "does not hold"
    for tier in ("smoke", "cpu"):
        said = at_budget(res, tier)
        assert said["verdict"] == "inconclusive" and "too small" in said["reason"]
    assert at_budget(res, "imagenette") == res and at_budget(res, "paper")["verdict"] == "does not hold"
    both = judge(AllOf((Claim("a", ">", "b"), Claim("b", ">", "a"))), rows)
    said = at_budget(both, "cpu")
    assert [p["verdict"] for p in said["parts"]] == ["inconclusive", "holds"] and said["verdict"] == "inconclusive"
