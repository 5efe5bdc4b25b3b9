"""Tests of focusmim.book.claim_checks: claims judged on tables, their records and verdicts."""
from __future__ import annotations

import pytest

from focusmim.book import report
from focusmim.experiments import Table
from tests.book.reporttools import META, _own_results, _row, _seeds, _store  # noqa: F401


def test_claims_and_comparison():
    t = Table("t", [_seeds("plain autoencoder", [0.50, 0.52, 0.49]), _row("raw pixels", 0.40, pretrain_seeds=[])])
    assert report.claims_text(t, ["autoencoder > raw pixels", "blur hurts periphery"]) == (
        "- autoencoder > raw pixels [plain autoencoder > raw pixels]: holds (difference +10.3 points, 95 % interval "
        "[+6.5, +14.1], 3 pretraining seeds)\n"
        "- blur hurts periphery [blurry periphery < masked periphery]: not run (not in this table: blurry periphery, "
        "masked periphery)")
    close = Table("t", [_seeds("plain autoencoder", [0.41, 0.39, 0.42]), _row("raw pixels", 0.40, pretrain_seeds=[])])
    assert "inconclusive (difference +0.7 points" in report.claims_text(close, ["autoencoder > raw pixels"])
    with pytest.raises(ValueError, match="table"):
        report.claims_text({"plain autoencoder": 0.5}, ["autoencoder > raw pixels"])
    assert report.judge("fixed masks without crop hurt",
                        {"fixed random patches": 0.6, "fixed random patches, no crop": 0.5}) is True
    with pytest.raises(ValueError, match="claim"):
        report.judge("no such claim", {})
    comparison = report.paper_comparison(Table("t", [_row("raw pixels", 0.30)]))
    md = comparison.to_markdown(["condition", "ours", "paper (STL-10)", "ours − paper"])
    assert "| raw pixels | 30.0\u00a0±\u00a01.0\u00a0% | 35.9 % | -5.9 points |" in md
    html = comparison.show().to_html()  # every column of a table without the usual ones
    assert "<table" in html and "<td" in html and "-5.9 points" in html and "|" not in html


def test_chapter_claims_of_object_loss_and_covert_attention():
    from focusmim.book.report import judge

    acc = {"random patches, loss on everything": 0.33, "random patches, loss on the object": 0.32,
           "masked periphery, loss on everything": 0.30, "masked periphery, loss on the object": 0.31}
    assert judge("the object-only loss does not hurt", acc) is True
    assert judge("the object-only loss does not hurt", {**acc, "masked periphery, loss on the object": 0.27}) is False
    assert judge("the object-only loss does not hurt", {}) is None
    err = {"no second disc | periphery only": 0.026, "no second disc | periphery + disc on the object": 0.023}
    assert judge("covert attention lowers foreground error", err) is True
    assert judge("covert attention lowers foreground error", {**err, "no second disc | periphery only": 0.02}) is False


def test_a_claim_of_several_parts_keeps_every_parenthesis():
    """An AllOf claim's difference cell lists each part in its own balanced parentheses."""
    _store("cpu", "04_object_loss", [
        _seeds("random patches, loss on the object", [0.30, 0.33, 0.31]),
        _seeds("random patches, loss on everything", [0.31, 0.32, 0.33]),
        _seeds("masked periphery, loss on the object", [0.26, 0.29, 0.27]),
        _seeds("masked periphery, loss on everything", [0.28, 0.27, 0.29])], {**META, "dataset": "cifar10"})
    row = next(r for r in report.claims_table() if r["claim"] == "the object-only loss does not hurt")
    assert row["verdict"] == "inconclusive"
    diff = row["difference"]
    assert diff.count("(") == diff.count(")") == 2 and diff.endswith("threshold)"), diff
    assert diff.startswith("inconclusive (difference ")


def test_claim_records_and_verdict_of_give_the_pages_verdicts_as_data():
    _store("imagenette", "01_masking_strategy", [_seeds("random patches", [0.53, 0.52, 0.525]),
                                                 _seeds("masked periphery", [0.43, 0.38, 0.40]),
                                                 _seeds("plain autoencoder", [0.44, 0.43, 0.45]),
                                                 _row("raw pixels", 0.374, 0.011, pretrain_seeds=[], epochs=0)],
           {**META, "dataset": "imagenette"})
    _store("cpu", "05_covert_attention-errors", [
        {"condition": "no second disc | periphery only", "foreground values": [0.047, 0.0456, 0.0442],
         "foreground mean": 0.0456, "pretrain_seeds": [0, 1, 2]},
        {"condition": "no second disc | periphery + disc on the object", "foreground values": [0.0478, 0.0458, 0.0452],
         "foreground mean": 0.0463, "pretrain_seeds": [0, 1, 2]}], {**META, "dataset": "cifar10"})
    records = {r["claim"]: r for r in report.claim_records()}
    assert set(records) == set(report.all_claims())
    r = records["patches >= periphery"]
    assert (r["sign_verdict"], r["size_verdict"], r["table"], r["preset"], r["n"]) == (
        "holds", "larger than the paper's", "01_masking_strategy", "imagenette", 3)
    assert r["paper_difference"] == pytest.approx(0.023) and r["low"] < r["difference"] < r["high"]
    assert r["paper_text"] == "+2.3 points" and r["ours_text"].endswith("points, 3 seeds") and r["parts"] is None
    assert r["size_reason"].startswith("the paper's +2.3 is below our interval [")
    assert "stl10" not in r["budget"] and r["budget"].startswith("imagenette 96 px") and r["page"] == "results"
    # covert attention: the paper's foreground errors (section 4.5) against ours
    c = records["covert attention lowers foreground error"]
    assert c["paper_difference"] == pytest.approx(-0.003) and c["column"] == "foreground"
    assert c["size_verdict"] == "smaller than the paper's"
    assert records["blur hurts patches"]["sign_verdict"] == "not run"
    assert records["the object-only loss does not hurt"]["size_verdict"] == "not run"
    assert records["periphery decorrelates more than foveal"]["paper_difference"] is None
    assert report.verdict_of("patches >= periphery") == r
    with pytest.raises(ValueError, match="claim='nope' is not known"):
        report.verdict_of("nope")
    # raw pixels: a constant in the interval, said on the page in one generated sentence
    text = report.summary_markdown()
    assert ("Raw pixels have no pretraining seeds: in “autoencoder > raw pixels” raw pixels enter every per-seed "
            "difference as one constant, the mean over probe seeds (37.4 % in 01_masking_strategy); their own spread "
            "over probe seeds (±1.1 points) is not in the interval, which is over the plain autoencoder's 3 "
            "pretraining seeds only.") in text


def test_a_claim_of_several_parts_has_a_record_per_part():
    _store("cpu", "04_object_loss", [
        _seeds("random patches, loss on the object", [0.30, 0.33, 0.31]),
        _seeds("random patches, loss on everything", [0.31, 0.32, 0.33]),
        _seeds("masked periphery, loss on the object", [0.26, 0.29, 0.27]),
        _seeds("masked periphery, loss on everything", [0.28, 0.27, 0.29])], {**META, "dataset": "cifar10"})
    r = report.verdict_of("the object-only loss does not hurt")
    assert r["size_verdict"] == "inconclusive" and r["size_reason"] == "no paper number"
    assert r["paper_text"] == "no paper number" and r["difference"] is None and len(r["parts"]) == 2
    assert {p["size_verdict"] for p in r["parts"]} == {"inconclusive"} and r["parts"][0]["n"] == 3
    assert r["ours_text"].startswith("(1) ") and "; (2) " in r["ours_text"]
