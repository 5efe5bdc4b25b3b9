"""Tests of focusmim.planning.timing: steps timed once per shape, compile times learned and measured."""
from __future__ import annotations

import json

import pytest


from focusmim.planning import plan, timing
from focusmim.config import make_config
from focusmim.store.runs import RunStore


def test_step_seconds_measures_once_per_shape(tiny_cfg, monkeypatch):
    t = timing.step_seconds(tiny_cfg, 8)
    assert t > 0
    monkeypatch.setattr(timing, "build_objective", lambda *a: pytest.fail("measured again"))
    assert timing.step_seconds(tiny_cfg, 8) == t


def test_compiled_plans_count_compilation_once_per_model_shape(tiny_cfg, fast_timing, own_cache):
    a = tiny_cfg.replace(compile=True)
    cfgs = [a, a.replace(masker="none"), a.replace(masker="foveal")]  # one model shape, three strategies
    p = plan.plan_configs(cfgs, preset="smoke")
    steps = 3 * 3 * a.epochs  # 96 images / batch 32, three runs
    assert p.estimate_s == pytest.approx(0.5 * steps + plan.COMPILE_S)
    assert "torch.compile, 35 s once per process and model shape" in p.format() and "H200" in p.format()
    assert fast_timing == [("random_patches", 32)]  # the strategies share the model's timing


def test_compile_time_measured_here_replaces_the_h200_constant(tiny_cfg, fast_timing, own_cache):
    a = tiny_cfg.replace(compile=True)
    timing.record_compile_seconds(a, 32, 12.0)
    p = plan.plan_configs([a], preset="smoke")
    assert p.estimate_s == pytest.approx(0.5 * 3 * a.epochs + 12.0)
    assert "12 s once per process" in p.format() and "measured on this machine" in p.format()


def test_a_stored_compiled_run_tells_the_compile_time(tiny_cfg, fast_timing, own_cache):
    """A finished compiled run trained on this machine: its first epoch's extra time is the compile time."""
    a = tiny_cfg.replace(compile=True, epochs=3)
    store = RunStore()
    d = store.path(a)
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({
        "finished": True, "epoch_time": [30.0, 4.0, 5.0], "world_size": 1, "torch": plan.torch.__version__,
        "device_name": timing._provenance_name("cpu")}))
    p = plan.plan_configs([a, a.replace(masker="none")], preset="smoke", store=store)
    assert p.n_stored == 1 and p.estimate_s == pytest.approx(0.5 * 3 * 3 + 26.0)
    assert "26 s once per process" in p.format()


def test_cpu_steps_are_timed_at_a_small_batch_scaled_by_flops(monkeypatch, own_cache):
    timed = []

    def fake_time(cfg, batch, dev):
        timed.append(batch)
        return 0.01 * batch

    monkeypatch.setattr(timing, "_time_step", fake_time)
    cfg = make_config("smoke", image_size=96, device="cpu")
    assert timing.step_seconds(cfg, 512) == pytest.approx(0.01 * 512)
    assert timing.step_seconds(cfg.replace(masker="none"), 256) == pytest.approx(0.01 * 256)  # cached, shared
    assert timed == [plan.TIMING_PIXELS // 96 ** 2]
