"""The paper's learning-rate procedure: select on the probe's validation split, blurred variants inherit, runs at
the paper's rate shared with the fixed-rate table; and chapter 1's generated section about it."""
from __future__ import annotations

import pytest
import torch

from focusmim.experiments import lr_selection as ls
from focusmim.book.chapter_text import lr_selection_section
from focusmim.experiments import Table
from focusmim.evaluation.probe import fit_linear_heads
from focusmim.store.runs import RunStore


def test_pick_rate_takes_the_best_validation_score_and_the_smaller_rate_on_a_tie():
    assert ls.pick_rate({5e-5: .30, 1e-4: .36, 5e-4: .35}) == 1e-4
    assert ls.pick_rate({5e-4: .40, 1e-4: .40}) == 1e-4
    with pytest.raises(ValueError, match="scores is empty"):
        ls.pick_rate({})


def test_validation_accuracy_refuses_a_probe_that_did_not_record_it():
    assert ls.validation_accuracy({"per_seed": [{"val_accuracy": .2}, {"val_accuracy": .4}]}) == pytest.approx(.3)
    with pytest.raises(ValueError, match="no validation accuracy"):
        ls.validation_accuracy({"per_seed": [{"accuracy": .5}]})  # never falls back to the test accuracy


def test_conditions_write_the_paper_rate_as_none_and_skip_blurred_variants():
    conds = ls.selection_conditions({"masked periphery": {"masker": "masked_periphery"},
                                     "blurry periphery": {"masker": "blurry_periphery"}}, (1e-4, 5e-4))
    assert conds == {"masked periphery, lr 0.0001": {"masker": "masked_periphery", "lr": None},
                     "masked periphery, lr 0.0005": {"masker": "masked_periphery", "lr": 5e-4}}
    with pytest.raises(ValueError, match="rates="):
        ls.selection_conditions({"x": {}}, ())


def test_blurred_variants_inherit_their_parents_rate():
    rates = ls.selected_rates({"random patches": 1e-4, "masked periphery": 5e-4},
                              ["random patches", "blurry random patches", "blurry periphery"])
    assert rates == {"random patches": 1e-4, "blurry random patches": 1e-4, "blurry periphery": 5e-4}
    with pytest.raises(ValueError, match="no selected rate for 'masked periphery'"):
        ls.selected_rates({}, ["blurry periphery"])
    over = ls.selected_conditions({"blurry periphery": {"masker": "blurry_periphery"}}, {"blurry periphery": 1e-4})
    assert over["blurry periphery"]["lr"] is None  # the paper's rate for it: the fixed-rate table's run


def test_the_probe_records_accuracy_on_its_validation_split_not_the_test_split():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(600) % 3
    x = torch.randn(600, 6, generator=g) + 4 * torch.nn.functional.one_hot(y, 6)
    yv = y.clone()
    yv[400:500] = (y[400:500] + 1) % 3  # the validation rows' labels are all wrong
    split = (torch.arange(400), torch.arange(400, 500))
    res = fit_linear_heads(x[:500], yv[:500], [split], x[500:], y[500:], seeds=[0], lr=1e-2)[0]
    assert res["accuracy"] > .7 and res["val_accuracy"] < .2  # early stopping saw the bad labels, the test did not


def test_selection_trains_every_rate_and_selects_on_validation(tiny_cfg, tmp_path):
    strategies = {"random patches": {"masker": "random_patches"}, "masked periphery": {"masker": "masked_periphery"},
                  "blurry periphery": {"masker": "blurry_periphery"}}
    store = RunStore(tmp_path / "runs")
    t = ls.select_learning_rates(tiny_cfg, strategies, rates=(1e-4, 1e-3), seed=0, probe_seeds=(0,), store=store,
                                 progress=False)
    assert len(t.rows) == 4 and {r["strategy"] for r in t.rows} == {"random patches", "masked periphery"}
    for name in ("random patches", "masked periphery"):
        rows = [r for r in t.rows if r["strategy"] == name]
        best = max(rows, key=lambda r: (r["val_accuracy"], -r["lr"]))
        assert [r["selected"] for r in rows].count(True) == 1 and best["selected"]
        assert t.meta["selected"][name] == best["lr"]
    assert t.meta["selected"]["blurry periphery"] == t.meta["selected"]["masked periphery"]
    # the run at the paper's rate for the periphery is the fixed-rate table's run (lr=None), not a second one
    assert store.get(tiny_cfg.replace(masker="masked_periphery", lr=None)) is not None


def test_chapter_section_states_the_confound_and_shows_a_smaller_tiers_selection(tmp_path):
    text = lr_selection_section("imagenette", tmp_path)
    assert "open confound" in text and "No tier has run the selection yet" in text
    rows = [{"condition": f"{s}, lr {r:g}", "strategy": s, "lr": r, "paper_rate": p, "val_accuracy": v,
             "accuracy_mean": v + .01, "selected": sel, "pretrain_seeds": [0]}
            for s, r, p, v, sel in [("masked periphery", 1e-4, 1e-4, .30, False),
                                    ("masked periphery", 5e-4, 1e-4, .33, True)]]
    Table("sel", rows, {"dataset": "cifar10", "image_size": 32, "epochs": 6, "n_unlabeled": 5000,
                        "selected": {"masked periphery": 5e-4, "blurry periphery": 5e-4}}).save(
        "cpu/01_masking_strategy-lr_selection", root=tmp_path)
    text = lr_selection_section("imagenette", tmp_path)
    assert "The selection at the `cpu` tier" in text
    assert "masked periphery (0.0005 instead of the paper's 0.0001)" in text and "blurry periphery 0.0005" in text
