"""Tests for focusmim.book.plots.common: chart helpers, their checks, and provenance captions under figures."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from focusmim.experiments import Table  # noqa: E402
from focusmim.experiments.captions import budget_caption, budget_note  # noqa: E402
from focusmim.book.plots import common, masking as pm  # noqa: E402

from tests.book.plots.plottools import META, _acc_table


def test_bar_chart_validates():
    with pytest.raises(ValueError, match="lengths differ"):
        common.bar_chart(["a", "b"], [0.1])
    with pytest.raises(ValueError, match="conditions"):
        common.table_bars(_acc_table(), conditions=["nope"])


def test_caption_comes_from_the_runs_shown_not_the_executing_machine():
    # a chapter executed on a CPU that reads GPU-trained runs from the store (chapter 2 once said 'CPU')
    rows = [dict(condition=c, accuracy_mean=0.4, run_keys=[c], device="NVIDIA H100", wall_time_s=30.0, epochs=10,
                 pretrain_seeds=[0]) for c in ("a", "b")]
    table = Table("t", rows, meta=dict(META, device="cpu", n_unlabeled=None, **{"pretraining seeds": [0, 1, 2]}))
    fig = pm.strategy_bars(table)
    text = " ".join(t.get_text() for t in fig.texts)
    assert "trained on NVIDIA H100" in text and "CPU" not in text and "1.0 min" in text
    assert "pretraining seeds [0]," in text and "10 epochs" in text and "all unlabeled images" in text
    # rows listing the same runs (one per probed epoch) count once; other runs add their epochs and time
    table.rows += [dict(r, epoch=5) for r in rows] + [dict(rows[0], run_keys=["c"], epochs=12, pretrain_seeds=[1])]
    assert budget_caption(table).endswith("10-12 epochs, pretraining seeds [0, 1], trained on NVIDIA H100, 1.5 min")
    note = budget_note(table)
    assert "40.0-40.0 % against 10 % chance: above chance" in note
    assert "near chance" in budget_note(Table("t", [dict(r, accuracy_mean=0.11) for r in rows]))
