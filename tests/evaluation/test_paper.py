"""Tests for focusmim.evaluation.paper: the published numbers and the claims judged on them."""
from __future__ import annotations

import pytest

from focusmim.evaluation.paper import CLAIMS, COMPARISON_LINES, PAPER_ACCURACY, PAPER_COVERT_ERROR, claim_holds


def test_every_claim_holds_on_the_papers_own_numbers():
    assert all(claim_holds(c, PAPER_ACCURACY) is True for c in CLAIMS)


def test_claims_fail_when_the_numbers_say_otherwise_and_are_none_when_a_condition_is_missing():
    flipped = dict(PAPER_ACCURACY, **{"masked periphery": 0.40})
    assert claim_holds("periphery >> foveal", flipped) is False
    assert claim_holds("patches >= periphery", {"random patches": 0.5}) is None
    # the tolerance: periphery up to one point above patches still counts as "patches >= periphery"
    assert claim_holds("patches >= periphery", {"random patches": 0.70, "masked periphery": 0.709}) is True
    assert claim_holds("patches >= periphery", {"random patches": 0.70, "masked periphery": 0.72}) is False
    with pytest.raises(ValueError, match="claim='nope' is not known; allowed: patches >= periphery"):
        claim_holds("nope", PAPER_ACCURACY)


def test_published_numbers_are_probabilities_and_errors_drop_with_the_disc():
    for table in (PAPER_ACCURACY, COMPARISON_LINES):
        assert all(0 < v < 1 for v in table.values())
    assert PAPER_ACCURACY["raw pixels"] == min(PAPER_ACCURACY.values())
    assert PAPER_COVERT_ERROR["with"] < PAPER_COVERT_ERROR["without"]


def test_every_claim_names_conditions_of_the_accuracy_table():
    for claim, rule in CLAIMS.items():
        assert {rule.a, rule.b} <= set(PAPER_ACCURACY), claim
        assert rule.column == "accuracy" and rule.op in (">", ">>", ">=", "<", "~")
