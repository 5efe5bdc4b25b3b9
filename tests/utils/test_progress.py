"""focusmim.utils.progress: bars and announcements outside a Jupyter kernel (the kernel path is exercised by the
notebook tests, which run chapters through papermill)."""
from __future__ import annotations

import sys

import pytest

from focusmim.utils import progress


def test_outside_a_kernel_output_goes_to_stderr_and_stdout(capsys):
    assert progress.terminal_stream() is sys.stderr
    progress.announce("Plan: 2 runs")
    assert capsys.readouterr().out == "Plan: 2 runs\n"
    bar = progress.progress_bar(total=4, desc="pretraining")
    bar.update(4)
    bar.close()
    assert "pretraining" in capsys.readouterr().err and bar.n == 4


def test_stop_notebook_outside_a_kernel_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as e:
        progress.stop_notebook("dry run: nothing trained")
    assert e.value.code == 0 and "dry run" in capsys.readouterr().out
