"""focusmim.experiments.captions: the budget words beside tables and figures, generated from the shown runs' records."""
from __future__ import annotations

import math

import pytest

from focusmim.experiments.captions import budget_caption, budget_note, shown_budget, weights_note
from focusmim.experiments import Table
from tests.book.plots.plottools import META


def test_caption_reads_the_meta():
    assert budget_caption(META) == "synthetic 32 px, 2 epochs, pretraining seeds [0, 1], trained on CPU, 1.5 min"
    with pytest.raises(ValueError, match="meta"):
        budget_caption([1, 2])


def test_rows_replace_the_executing_machine_and_count_each_run_once():
    rows = [dict(run_keys=["a"], device="NVIDIA H200", wall_time_s=3600.0, epochs=10, pretrain_seeds=[0]),
            dict(run_keys=["a"], device="NVIDIA H200", wall_time_s=3600.0, epochs=10, pretrain_seeds=[0],
                 epoch=5),  # the same run probed at another epoch
            dict(run_keys=["raw"], epochs=0)]  # a baseline without pretraining adds no epochs
    b = shown_budget(Table("t", rows, meta={"dataset": "cifar10", "device_name": "CPU", "seeds": [0, 1, 2]}))
    assert (b["device_name"], b["wall_time_s"], b["epochs"], b["seeds"]) == ("NVIDIA H200", 3600.0, 10, [0])
    assert budget_caption(Table("t", rows, meta={"dataset": "cifar10"})).endswith("trained on NVIDIA H200, 1.0 h")


def test_caption_skips_an_unknown_time():
    assert budget_caption({"dataset": "synthetic", "wall_time_s": math.nan}) == "synthetic"


def test_note_places_the_numbers_against_chance():
    near = Table("t", [dict(accuracy_mean=0.11), dict(accuracy_mean=0.12)], meta={"dataset": "synthetic"})
    assert "near chance, so the checks below say little" in budget_note(near)
    mixed = Table("t", [dict(accuracy_mean=0.11), dict(accuracy_mean=0.40)], meta={"dataset": "synthetic"})
    assert "1 of 2 near chance" in budget_note(mixed)
    far = Table("t", [dict(accuracy_mean=0.40), dict(accuracy_mean=float("nan"))], meta={"dataset": "synthetic"})
    assert "40.0-40.0 % against 10 % chance: above chance" in budget_note(far)


def test_weights_note_names_the_zoo_model_that_drew_the_images():
    assert weights_note(None) == "" and weights_note([None, {"other": 1}]) == ""
    one = {"zoo": "imagenette96-random-patches", "key": "9f94b16126a9ef45", "precision": "fp16", "sha256": "ab" * 6}
    assert weights_note(one) == ("drawn by the zoo model imagenette96-random-patches (run 9f94b16126a9ef45, fp16 "
                                 "weights)")
    two = weights_note([one, dict(one, zoo="imagenette96-foveal-filter", key="11468c8872997e25")])
    assert two == ("drawn by the zoo models imagenette96-random-patches (run 9f94b16126a9ef45), "
                   "imagenette96-foveal-filter (run 11468c8872997e25) (fp16 weights)")
    assert weights_note(one, short=True) == "by the zoo model imagenette96-random-patches (fp16)"


def test_weights_note_reads_the_cached_records_of_retrains():
    # the book's cached CIFAR-10 examples were drawn by CPU retrains before the zoo existed; their records
    # (with the key "stand_in", which no code writes any more) still render
    one = {"stand_in": True, "device": "CPU", "final_loss": 0.0303, "shown_device": "NVIDIA H100",
           "shown_final_loss": 0.0300}
    assert weights_note(one) == ("drawn by a retrain of the same config on CPU (the NVIDIA H100 run shown kept no "
                                 "weights); final training loss within 1.0 % of that run")
    two = weights_note([one, dict(one, final_loss=0.0294)])  # the largest gap of the two is told
    assert two.startswith("drawn by retrains of the same configs on CPU (the NVIDIA H100 runs shown kept no")
    assert two.endswith("within 2.0 % of those runs")
    assert "final training loss" not in weights_note(dict(one, final_loss=None))
    assert weights_note(one, short=True) == "by a retrain on CPU"
    zoo = {"zoo": "m", "key": "k", "precision": "fp16"}
    assert weights_note([zoo, one]).startswith("drawn by the zoo model m (run k, fp16 weights); drawn by a retrain")
