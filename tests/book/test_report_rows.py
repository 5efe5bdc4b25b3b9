"""Tests of focusmim.book.report_rows: the budget behind a row, and rows on runs of an earlier rule."""
from __future__ import annotations


from focusmim.book import report
from tests.book.reporttools import META, _own_results, _row, _seeds, _store  # noqa: F401


def test_budget_names_batch_and_bf16_in_order():
    from focusmim.book.report import _budget

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
