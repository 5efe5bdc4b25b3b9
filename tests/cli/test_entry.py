"""The command line fails in one line with exit code 2 on every invalid config, before any work."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import focusmim.cli.entry as cli

from tests.config.test_core import INVALID


def _argv(override: dict) -> list[str]:
    argv = ["run", "--preset", "smoke"]
    for k, v in override.items():
        argv += ["--set", f"{k}={json.dumps(v)}"]  # strings quoted, so epochs="3" stays a string
    return argv


@pytest.mark.parametrize("override, words", INVALID, ids=[",".join(o) for o, _ in INVALID])
def test_invalid_config_exits_2_with_one_line(override, words, capsys, monkeypatch):
    monkeypatch.setattr(cli, "compare", lambda *a, **k: pytest.fail("work started"))
    assert cli.main(_argv(override)) == 2
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.err
    for w in words:
        assert w in lines[0]


def test_set_needs_name_equals_value(capsys):
    assert cli.main(["run", "--preset", "smoke", "--set", "weight_decay"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_python_m_focusmim_run_exits_2_in_one_line():
    p = subprocess.run([sys.executable, "-m", "focusmim", "run", "--preset", "smoke", "--set", "weight_decay=abc"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "error: weight_decay='abc' is not allowed; allowed: a number >= 0"], p.stderr
    assert p.stdout == ""


def test_tensorboard_and_knn_flags_reach_the_config(capsys, monkeypatch):
    import importlib.util

    class Stop(Exception):
        pass

    seen = []

    def planned(base, *a, **k):  # the first thing done with the config: planning its runs
        seen.append(base)
        raise Stop

    monkeypatch.setattr(cli, "compare", planned)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "tensorboard" else real(name, *a, **k))
    assert cli.main(["run", "--preset", "smoke", "--tensorboard", "--dry-run"]) == 2  # not installed: one line
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "`pip install tensorboard`" in lines[0] and not seen
    monkeypatch.setattr(importlib.util, "find_spec", real)
    with pytest.raises(Stop):
        cli.main(["run", "--preset", "smoke", "--knn-every", "3", "--dry-run"])
    assert seen[0].knn_every == 3 and not seen[0].tensorboard
