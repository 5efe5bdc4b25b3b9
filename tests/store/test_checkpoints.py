"""Tests of focusmim.store.checkpoints: a run's weights saved, verified, checked finite, and the zoo's stand-in."""
import math

import pytest
import torch

from focusmim.config import make_config
from focusmim.store.integrity import DamagedRunError
from focusmim.store.runs import RunStore


def test_checkpoints_round_trip_and_non_finite_weights_are_refused(tmp_path):
    run = RunStore(tmp_path).open(make_config("smoke"))
    run.save_checkpoint("last", {"model": {"w": torch.ones(2)}, "epoch": 1})
    assert run.load_checkpoint("last")["epoch"] == 1
    run.save_checkpoint(3, {"model": {"w": torch.tensor([1.0, math.nan])}})
    assert run.checkpoint_path(3).name == "epoch0003.pt"
    with pytest.raises(DamagedRunError, match="non-finite weights"):
        run.load_checkpoint(3)
    with pytest.raises(ValueError, match="allowed: 'best', 'last'"):
        run.checkpoint_path("first")


def test_a_run_without_weights_names_what_it_has(tmp_path):
    run = RunStore(tmp_path).open(make_config("smoke"))
    assert not run.has_model("best") and run.zoo_entry("last") is None
    with pytest.raises(FileNotFoundError, match=r"no checkpoint best.pt .*present: \[\] \(and no zoo model"):
        run.load_model()


def test_a_trained_model_loads_from_its_best_checkpoint(tmp_path):
    from focusmim import models

    cfg = make_config("smoke", width=0.25)
    run = RunStore(tmp_path).open(cfg)
    model = models.build_for_config(cfg)
    run.save_checkpoint("best", {"model": model.state_dict()})
    loaded = run.load_model("best")
    assert loaded.weights_source is None and not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
