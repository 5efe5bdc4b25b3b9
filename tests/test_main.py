"""Tests for focusmim.__main__: ``python -m focusmim`` runs the command line and exits with its code."""
from __future__ import annotations

import runpy
import sys

import pytest

from focusmim import cli


def _run_module(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["focusmim", *args])
    with pytest.raises(SystemExit) as e:
        runpy.run_module("focusmim", run_name="__main__")
    return e.value.code


@pytest.mark.parametrize("code", [0, 2, 7])
def test_exit_code_is_the_command_lines(monkeypatch, code):
    seen = []
    monkeypatch.setattr(cli, "main", lambda argv=None: seen.append(argv) or code)
    assert _run_module(monkeypatch, "store", "verify") == code
    assert seen == [None]  # main reads sys.argv itself


def test_help_lists_the_commands(monkeypatch, capsys):
    assert _run_module(monkeypatch, "--help") == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: focusmim")
    for command in ("run", "precompute", "maps", "publish", "summary", "store"):
        assert command in out


def test_unknown_command_is_a_usage_error(monkeypatch, capsys):
    assert _run_module(monkeypatch, "fly") == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err
