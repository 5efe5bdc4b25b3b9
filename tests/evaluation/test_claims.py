"""focusmim.evaluation.claims: per-seed differences inside one table, a 95 % interval, three verdicts."""
import math

import pytest

from focusmim.evaluation.claims import AllOf, Claim, describe, judge, seed_values, t_interval


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


def test_a_small_budget_never_says_does_not_hold():
    from focusmim.evaluation.claims import AllOf, Claim, at_budget, judge

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
