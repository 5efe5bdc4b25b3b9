"""Tests for focusmim.models (the registry, build_for_config, count_parameters, flops)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from focusmim import models
from focusmim.models import build, flops


# ----------------------------------------------------------------- registry
def test_registry_lists_all_models():
    assert {"autoencoder", "convnext_fcmae", "adios_unet"} <= set(models.available())


def test_unknown_model_name_raises():
    with pytest.raises(ValueError, match="allowed"):
        build("resnet_nonexistent")


def test_build_for_config_uses_width_and_rejects_mask_net():
    m = models.build_for_config(SimpleNamespace(model="autoencoder", width=0.5))
    assert m.channels == (16, 32, 64)
    with pytest.raises(ValueError, match="model="):
        models.build_for_config(SimpleNamespace(model="adios_unet", width=1.0))


def test_flops_match_reference(ae):
    # FlopCounterMode counts 2 FLOPs per multiply-accumulate (FLOPs = 2 * MACs)
    total = flops(ae, 96)
    enc = flops(ae, 96, part="encoder")
    assert total == pytest.approx(1.336e9, rel=0.03)
    assert enc == pytest.approx(0.689e9, rel=0.03)
    # cost scales with pixel count
    assert flops(ae, 48) == pytest.approx(total / 4, rel=0.01)


def test_flops_forward_backward_is_about_three_times_forward():
    m = build("autoencoder", width=0.25)
    f = flops(m, 32)
    fb = flops(m, 32, part="forward_backward")
    assert 2.5 * f < fb < 3.2 * f
    assert all(p.grad is None for p in m.parameters())  # probe leaves no gradients behind


def test_flops_bad_arguments_raise(ae):
    with pytest.raises(ValueError, match="part"):
        flops(ae, 32, part="everything")
    with pytest.raises(ValueError, match="image_size"):
        flops(ae, "big")
