"""The results summary from fabricated stored tables: our numbers, the paper's, budgets, claims."""
from __future__ import annotations

import pytest

from focusmim import report
from focusmim.cli import main
from focusmim.experiments import Table, results_dir

META = {"dataset": "stl10", "image_size": 96, "epochs": 500, "seeds": [0], "device_name": "NVIDIA H100"}


@pytest.fixture(autouse=True)
def _own_results(tmp_path, monkeypatch):
    monkeypatch.setenv("FOCUSMIM_RESULTS", str(tmp_path / "results"))  # every test starts empty


def _store(preset, name, rows, meta=None):
    Table(name, rows, dict(meta or META)).save(f"{preset}/{name}", root=results_dir())  # as published


def _row(cond, acc, std=0.01, **kw):
    return {"condition": cond, "accuracy_mean": acc, "accuracy_std": std, "epochs": 500, "pretrain_seeds": [0],
            "wall_time_s": 7200.0, **kw}


def _seeds(cond, accs, **kw):
    mean = sum(accs) / len(accs)
    return _row(cond, mean, pretrain_seeds=list(range(len(accs))), seed_accuracies=list(accs), **kw)


def test_summary_has_ours_paper_budget_and_claims(tmp_path):
    _store("paper", "01_masking_strategy", [_seeds("random patches", [0.689, 0.69, 0.688]),
                                            _seeds("masked periphery", [0.72, 0.72, 0.721]),
                                            _seeds("foveal filter", [0.51, 0.52, 0.50]), _row("new thing", 0.4)])
    _store("smoke", "01_masking_strategy", [_row("random patches", 0.123)], {**META, "dataset": "synthetic"})
    _store("smoke", "03_augmentation", [_row("masked periphery, no crop", 0.2), _row("masked periphery", 0.3)],
           {**META, "dataset": "synthetic", "image_size": 32})
    _store("paper", "lr_check", [_row("masked periphery, lr 5e-4", 0.6), _row("masked periphery", 0.99)])
    _store("paper", "02_decorrelation", [
        {"condition": "masked periphery", "decorrelation_mean": 1.0, "decorrelation_seeds": [1.0, 1.1, 0.9],
         "pretrain_seeds": [0, 1, 2]},
        {"condition": "foveal filter", "decorrelation_mean": 3.0, "decorrelation_seeds": [3.0, 3.2, 2.8],
         "pretrain_seeds": [0, 1, 2]}])
    path = report.write_summary(tmp_path / "results.md")
    text = path.read_text()
    # the larger budget wins for table 01: 68.9 (paper preset), not the smoke 12.3
    # headline: only conditions the paper reports, ours beside theirs, the budget; the larger budget wins
    assert "| random patches | 68.9\u00a0±\u00a01.0\u00a0% | 70.2 % | -1.3 | stl10 96 px, 500 ep" in text, text
    assert "(01_masking_strategy, paper) |" in text
    assert "12.3 %" not in text
    assert "NVIDIA H100" in text and "2.0 h" in text
    assert "new thing" not in text and "lr_check" not in text and "99.0" not in text  # internal checks stay out
    assert "![ours against the paper's STL-10 numbers](results_headline.png)" in text
    assert (tmp_path / "results_headline.png").stat().st_size > 1000
    # claims: judged inside one table, from per-seed differences with a 95 % interval; the size against the
    # paper's difference first, then the sign (three verdicts each)
    assert "| claim | size against the paper | paper's difference | our difference (95 % interval) | sign |" in text
    assert ("| patches >= periphery | smaller than the paper's | +2.3 points | -3.1 [") in text  # 68.9 against 72.0
    assert "points, 3 seeds | does not hold | random patches >= masked periphery - 1 point |" in text
    assert ("| periphery >> foveal | larger than the paper's | +18.0 points | +21.0 [+18.4, +23.6] points, 3 seeds "
            "| holds | masked periphery > foveal filter + 2 points |") in text
    assert ("| blur hurts patches | not run (no table holds both of its conditions) | -13.7 points |  | not run | "
            "blurry random patches < random patches |  |") in text
    # one pretraining seed: no interval, so inconclusive, never 'does not hold', and no size either
    assert ("| crop matters for periphery | inconclusive (one pretraining seed: no interval) | -11.2 points | "
            "-10.0 points, 1 seed: no interval | inconclusive | masked periphery, no crop < masked periphery - 2 "
            "points | 03_augmentation (smoke: ") in text
    # no paper number for the covariance term: the size is inconclusive, the sign still judged
    assert ("| periphery decorrelates more than foveal | inconclusive (no paper number) | no paper number | -2 [-2.25, "
            "-1.75], 3 seeds | holds | masked periphery < foveal filter |") in text
    assert "03_augmentation (smoke)" in text and "{doc}`results_appendix`" in text
    # the appendix: every condition of every table, internal checks in their own section
    appendix = (tmp_path / "results_appendix.md").read_text()
    assert "| 01_masking_strategy (paper) | new thing | 40.0\u00a0±\u00a01.0\u00a0% |  |" in appendix  # no paper value
    chapters, internal = appendix.split("## Internal checks")
    assert "| lr_check (paper) | masked periphery, lr 5e-4 | 60.0\u00a0±\u00a01.0\u00a0% |" in internal
    assert "lr_check" not in chapters


def test_summary_without_tables(tmp_path):
    text = report.write_summary(tmp_path / "r.md").read_text()
    assert "No stored tables yet" in text
    with pytest.raises(ValueError, match="path"):
        report.write_summary(tmp_path / "r.txt")


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


def test_cli_summary(tmp_path, capsys):
    _store("cpu", "01_masking_strategy", [_row("random patches", 0.5)])
    assert main(["summary", "--out", str(tmp_path / "s.md")]) == 0
    assert "50.0\u00a0±" in (tmp_path / "s.md").read_text()


def test_chapter_claims_of_object_loss_and_covert_attention():
    from focusmim.report import judge

    acc = {"random patches, loss on everything": 0.33, "random patches, loss on the object": 0.32,
           "masked periphery, loss on everything": 0.30, "masked periphery, loss on the object": 0.31}
    assert judge("the object-only loss does not hurt", acc) is True
    assert judge("the object-only loss does not hurt", {**acc, "masked periphery, loss on the object": 0.27}) is False
    assert judge("the object-only loss does not hurt", {}) is None
    err = {"no second disc | periphery only": 0.026, "no second disc | periphery + disc on the object": 0.023}
    assert judge("covert attention lowers foreground error", err) is True
    assert judge("covert attention lowers foreground error", {**err, "no second disc | periphery only": 0.02}) is False


def test_budget_names_batch_and_bf16_in_order():
    from focusmim.report import _budget

    meta = {"dataset": "cifar10", "image_size": 32, "epochs": 3, "seeds": [0], "device_name": "CPU"}
    assert _budget({**meta, "batch_size": 32, "precision": "bf16"}, {}) == "cifar10 32 px, 3 ep, batch 32, bf16, seeds [0], CPU"
    assert _budget({**meta, "precision": "bf16"}, {}) == "cifar10 32 px, 3 ep, bf16, seeds [0], CPU"
    assert _budget({**meta, "precision": "fp32"}, {"wall_time_s": 90}) == "cifar10 32 px, 3 ep, seeds [0], CPU, 1.5 min"


def test_rows_on_runs_of_an_earlier_rule_say_so(tmp_path):
    import json

    from focusmim.config import make_config

    cfg = make_config("smoke", masker="foveal", dataset="cifar10", data_root=None, image_size=32)
    (tmp_path / "0123456789abcdef").mkdir()  # a folder whose stored config keys elsewhere today
    (tmp_path / "0123456789abcdef" / "config.json").write_text(json.dumps(cfg.to_dict()))
    (tmp_path / cfg.key()).mkdir()
    (tmp_path / cfg.key() / "config.json").write_text(json.dumps(cfg.to_dict()))
    assert "earlier foveal filter" in report.stale_reason({"run_keys": ["0123456789abcdef"]}, tmp_path)
    assert report.stale_reason({"run_keys": [cfg.key()]}, tmp_path) == ""
    disc = {"condition": "m | periphery + disc on the object"}
    assert "first maximal pixel" in report.stale_reason(disc, tmp_path, meta={})
    assert report.stale_reason(disc, tmp_path, meta={"object_disc_rule": 2}) == ""


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


def _curves(extra_epoch=None, seeds=(0, 1, 2)):
    """A chapter-1 curves table: accuracy = base + slope * ln(epoch) + a seed's offset, at 10, 25 and 50 epochs
    (50: the lowest-loss checkpoint), plus a longer run's row at ``extra_epoch`` when given."""
    import math

    lines = {"random patches": (0.10, 0.09), "masked periphery": (0.05, 0.08), "foveal filter": (0.20, 0.05)}
    rows = []
    for cond, (base, slope) in lines.items():
        for e in (10, 25, 50) + ((extra_epoch,) if extra_epoch else ()):
            accs = [base + slope * math.log(e) + 0.003 * (s - 1) for s in seeds]
            rows.append({"condition": cond, "epoch": e, "checkpoint": "best" if e == 50 else str(e),
                         "accuracy_mean": sum(accs) / len(accs), "accuracy_std": 0.003, "seed_accuracies": accs,
                         "pretrain_seeds": list(seeds), "device": "NVIDIA H200"})
    for e in (10, 25, 50):
        rows.append({"condition": "raw pixels", "epoch": e, "checkpoint": "none", "accuracy_mean": 0.3,
                     "accuracy_std": 0.01, "pretrain_seeds": []})
    return rows


def test_the_prediction_for_longer_runs_and_a_measurement_beside_it():
    from focusmim.experiments import load_tables

    meta = {**META, "dataset": "imagenette", "image_size": 96, "epochs": 50, "curve_epochs": [10, 25, 50],
            "seeds": [0, 1, 2]}
    main = [_seeds(c, [0.5, 0.51, 0.52], decorrelation_epochs=[50, 50, 50], epochs=50)
            for c in ("random patches", "masked periphery", "foveal filter")]
    _store("imagenette", "01_masking_strategy", main, meta)
    _store("imagenette", "01_masking_strategy-curves", _curves(), meta)
    text = report.summary_markdown()
    section = text.split("## A prediction for longer runs")[1]
    assert "**A prediction, not a result.**" in section and "weak basis" in section
    assert "measured at 100 epochs" not in section  # nothing longer run yet
    # the lines are exact: the prediction at 500 epochs is the line itself, the interval the seeds' spread
    assert "| random patches | 30.7 / 39.0 / 45.2 % | +6.2 | 51.4 [50.7, 52.2] % | 65.9 [65.2, 66.7] % |" in section
    # masked periphery gains 3 points per e-fold on foveal filter, from -15 at 1 epoch: the lines cross at e^5
    assert "| masked periphery − foveal filter | -3.3 [-3.3, -3.3] | -1.2 [-1.2, -1.2] | +3.6 [+3.6, +3.6] | " \
        "at about 148 epochs |" in section
    assert "the masked periphery's line passes the foveal filter's at about 148 epochs: the gap is predicted to " \
        "close within 500 epochs" in section
    assert "the masked periphery's line does not gain on the random patches': the gap is predicted to widen" in section
    assert "(50)." in section  # the epoch of every lowest-loss checkpoint
    lr = report.longer_runs(*(load_tables(n)["imagenette"] for n in ("01_masking_strategy-curves",
                                                                       "01_masking_strategy")))
    assert lr["fit_epochs"] == [10, 25, 50] and lr["best_epochs"] == [50] * 9
    # a longer run exists: its measurement beside the prediction, inside / above / below its interval
    rows = _curves(extra_epoch=100)
    for r in rows:
        if r["epoch"] == 100 and r["condition"] == "foveal filter":
            r["seed_accuracies"] = [a + 0.05 for a in r["seed_accuracies"]]  # better than the line predicts
    _store("imagenette", "01_masking_strategy-curves", rows, {**meta, "curve_epochs": [10, 25, 50, 100]})
    section = report.summary_markdown().split("## A prediction for longer runs")[1]
    assert "| predicted at 100 epochs | measured at 100 epochs | predicted at 500 epochs |" in section
    assert "| random patches | 30.7 / 39.0 / 45.2 % | +6.2 | 51.4 [50.7, 52.2] % | 51.4 [50.7, 52.2] % (inside) |" \
        in section
    assert "| foveal filter |" in section and "(above) |" in section
    # the 100-epoch row is a measurement, not fitted: the prediction stays what it was
    assert "| masked periphery − foveal filter | -3.3 [-3.3, -3.3] | -1.2 [-1.2, -1.2] | -6.2 [-6.2, -6.2] (below) |" \
        in section


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


def test_the_headline_figure_shows_one_tier_and_says_which(tmp_path):
    rows = [{"condition": "random patches", "ours": 0.5, "std": 0.01, "paper": 0.702, "preset": "imagenette",
             "dataset": "imagenette", "image_size": 96, "epochs": 50},
            {"condition": "random patches, no crop", "ours": 0.4, "std": 0.01, "paper": 0.702, "preset": "gpu",
             "dataset": "cifar10", "image_size": 32, "epochs": 10}]
    assert report.figure_rows(rows) == rows[:1]
    fig = report.headline_figure(rows)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["random patches"]
    assert ax.get_title() == "One tier only: imagenette tier (imagenette 96 px, 50 epochs)"
    _store("imagenette", "01_masking_strategy", [_seeds("random patches", [0.5, 0.51, 0.52],
                                                        decorrelation_epochs=[49, 47, 50], epochs=50)],
           {**META, "dataset": "imagenette", "epochs": 50})
    _store("gpu", "03_augmentation", [_row("random patches, no crop", 0.4, epochs=10)],
           {**META, "dataset": "cifar10", "image_size": 32})
    text = report.write_summary(tmp_path / "results.md").read_text()
    assert ("The figure shows one tier only, the largest: the imagenette tier (imagenette 96 px, 50 epochs); "
            "random patches, no crop (measured only at a smaller tier) are in the table above") in text
    assert ("Ours are each run's lowest-training-loss checkpoint, not its last epoch: 01_masking_strategy "
            "(imagenette, 50 epochs): epochs 47-50.") in text


def test_a_curves_raw_pixel_row_has_no_pretraining():
    from focusmim.report import _budget

    meta = {"dataset": "imagenette", "image_size": 96, "epochs": 50, "device_name": "NVIDIA H200"}
    assert _budget(meta, {"condition": "raw pixels", "epoch": 50, "checkpoint": "none", "pretrain_seeds": []}) == (
        "imagenette 96 px, no pretraining")
