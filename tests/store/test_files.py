"""Tests of focusmim.store.files: a run's files written atomically into the manifest and verified when read."""
import numpy as np
import pytest

from focusmim.store.files import RunFiles, metrics_csv
from focusmim.store.integrity import DamagedRunError


@pytest.fixture
def run(tmp_path):
    r = RunFiles(tmp_path / "0123456789abcdef", None)
    r.dir.mkdir()
    return r


def test_json_round_trips_through_the_manifest_and_a_changed_byte_is_named(run):
    run.save_json("config.json", {"objective": "mim", "epochs": 1})
    run.save_json("probe-x.json", {"accuracy": 0.5})
    assert run.load_json("probe-x.json") == {"accuracy": 0.5}
    assert set(run.manifest()) == {"config.json", "probe-x.json"}
    path = run.dir / "probe-x.json"
    path.write_bytes(path.read_bytes().replace(b"0.5", b"0.6"))
    with pytest.raises(DamagedRunError, match="probe-x.json: sha256 checksum mismatch"):
        run.load_json("probe-x.json")
    problems, _ = run.verify()
    assert len(problems) == 1 and "probe-x.json" in problems[0]


def test_a_missing_listed_file_is_a_problem_but_missing_weights_are_a_note(run):
    run.save_json("config.json", {"objective": "mim", "epochs": 1})
    run.write_bytes("best.pt", b"weights")
    (run.dir / "best.pt").unlink()
    problems, notes = run.verify()
    assert problems == [] and notes == ["best.pt absent (weights not kept)"]
    (run.dir / "config.json").unlink()
    problems, _ = run.verify()
    assert any("config.json: missing" in p for p in problems)


def test_caches_compute_once(run):
    calls = []
    assert run.cached_json("a.json", lambda: calls.append(1) or {"x": 1}) == {"x": 1}
    assert run.cached_json("a.json", lambda: calls.append(1) or {"x": 2}) == {"x": 1} and calls == [1]
    got = run.cached_arrays("b.npz", lambda: {"m": np.arange(4, dtype=np.uint8)})
    assert got["m"].dtype == np.uint8 and got["m"].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="allowed: a file name ending in .json"):
        run.cached_json("a.txt", dict)


def test_metrics_are_written_with_their_csv_log(run):
    run.save_metrics({"loss": [0.5, 0.25], "epochs_done": 2, "epoch_time": [1.0, 1.0]})
    assert run.finished is False and run.metrics["epochs_done"] == 2
    assert (run.dir / "metrics.csv").read_text() == metrics_csv(run.metrics)
    assert sorted(run.manifest()) == ["metrics.csv", "metrics.json"]
