"""Tests for focusmim.masking.learned: a mask network, or a stored ADIOS run's, as a masker."""
from __future__ import annotations

import pytest
import torch

from focusmim import masking, models
from focusmim.config import ConfigError, make_config
from focusmim.store.runs import RunStore
from focusmim.training.train import pretrain


def test_learned_masker_from_net_and_from_a_stored_run(tmp_path):
    assert "learned" in masking.available() and "grid_periphery" in masking.available()
    torch.manual_seed(0)
    net = models.build("adios_unet", n_masks=3, image_size=32, width=0.25)
    m = masking.build("learned", net=net)
    x = torch.rand(6, 3, 32, 32)
    a = m(x, torch.Generator().manual_seed(0))
    b = m(x, torch.Generator().manual_seed(0))
    assert torch.equal(a.weight, b.weight)  # randomness only from the generator
    assert set(a.weight.unique().tolist()) <= {0.0, 1.0}
    # the hard masks of all N choices partition the image: each pixel belongs to exactly one
    hard = torch.nn.functional.one_hot(net(x).argmax(1), 3).sum(-1)
    assert torch.equal(hard, torch.ones_like(hard))
    soft = masking.build("learned", net=net, binarize=False)(x, torch.Generator().manual_seed(0))
    assert ((soft.weight > 0) & (soft.weight < 1)).any()
    with pytest.raises(ValueError, match="generator"):
        m(x, None)
    with pytest.raises(ValueError, match="exactly one"):
        masking.build("learned")
    with pytest.raises(ValueError, match="run_key"):
        masking.build("learned", run_key="nope", store_root=tmp_path)

    store = RunStore(tmp_path)
    cfg = make_config("smoke", objective="adios_mim", epochs=2, n_unlabeled=32, batch_size=32, n_labeled=40,
                      n_test=32, width=0.25, objective_params={"n_masks": 2, "single": True}, snapshot_epochs=(1,))
    run = pretrain(cfg, store, progress=False)
    snap = run.load_checkpoint(1)
    assert set(snap["modules"]) == {"masks"} and "model" in snap  # snapshots keep every module
    for which in ("last", 1):
        lm = masking.build("learned", run_key=run.dir.name, store_root=str(tmp_path), which=which)
        out = lm(x, torch.Generator().manual_seed(0))
        assert out.weight.shape == (6, 1, 32, 32)
    c = make_config("smoke", masker="learned", masker_params={"run_key": run.dir.name, "store_root": str(tmp_path)})
    assert c.masker == "learned"
    with pytest.raises(ValueError, match="which"):
        masking.build("learned", run_key=run.dir.name, store_root=str(tmp_path), which=2)
    plain = pretrain(cfg.replace(objective="mim", objective_params={}), store, progress=False)
    with pytest.raises((ValueError, ConfigError), match="mask network"):
        masking.build("learned", run_key=plain.dir.name, store_root=str(tmp_path))
