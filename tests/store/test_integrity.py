"""Tests of focusmim.store.integrity: what makes a stored file intact, and the lines that name a damaged one."""
import math

import torch

from focusmim.store import integrity


def test_a_manifest_entry_accepts_the_file_or_its_previous_version_only():
    old, new = integrity._entry(b"old"), integrity._entry(b"newer")
    entry = dict(new, prev=old)
    assert integrity._mismatch(entry, b"newer") is None and integrity._mismatch(entry, b"old") is None
    assert "truncated" in integrity._mismatch(entry, b"ne")
    assert "checksum mismatch" in integrity._mismatch(entry, b"nEwer")
    assert integrity._entry_ok(new) and not integrity._entry_ok({"size": "3"})


def test_metrics_and_config_problems_say_what_is_wrong():
    assert integrity._metrics_problem({"loss": [0.5, 0.4], "epochs_done": 2}) is None
    assert "finite" in integrity._metrics_problem({"loss": [math.nan], "epochs_done": 1})
    assert "does not match" in integrity._metrics_problem({"loss": [0.5], "epochs_done": 2})
    assert "not a metrics object" in integrity._metrics_problem([1])
    assert integrity._config_problem({"objective": "mim", "epochs": 3}) is None
    assert "not a run config" in integrity._config_problem({"epochs": 3})


def test_non_finite_weights_are_found_by_their_path():
    state = {"model": {"enc.weight": torch.ones(3), "dec.bias": torch.tensor([0.0, math.inf])}}
    assert integrity._non_finite(state) == "model.dec.bias: 1 of 2 values"
    assert integrity._non_finite({"model": {"w": torch.ones(2)}, "epoch": 3}) is None


def test_a_damaged_run_error_names_its_file(tmp_path):
    err = integrity.DamagedRunError(tmp_path / "metrics.json", "unparsable JSON")
    assert str(err) == f"{tmp_path / 'metrics.json'}: unparsable JSON" and err.path.name == "metrics.json"
    assert integrity._problem_file(str(err)) == "metrics.json"
    assert integrity._RUN_DIR.match("0123456789abcdef") and not integrity._RUN_DIR.match("tables")
