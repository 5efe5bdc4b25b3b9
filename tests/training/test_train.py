"""Pretraining: reuse, exact resume after a kill, NaN handling, snapshots, the training log and the monitors."""
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from focusmim.config import ConfigError, make_config
from focusmim.training.objectives import MIM
from focusmim.store.runs import RunStore
from focusmim.training.train import NonFiniteLossError, pretrain


ROOT = Path(__file__).resolve().parents[2]


def _weights(run, which="last"):
    return run.load_checkpoint(which)["modules"]["model"] if which == "last" else run.load_checkpoint(which)["model"]


def test_pretrain_stores_metrics_checkpoints_and_reuses(tiny_cfg, tmp_path):
    store = RunStore(tmp_path)
    cfg = tiny_cfg.replace(snapshot_epochs=(1,))
    run = pretrain(cfg, store, progress=False)
    m = run.metrics
    assert m["finished"] and m["epochs_done"] == 2 and len(m["loss"]) == 2
    assert all(0 < v < 1 for v in m["loss"])
    assert m["decorrelation_n"] == 60 and len(m["decorrelation"]) == 2
    for name in ("config.json", "metrics.json", "last.pt", "best.pt", "epoch0001.pt"):
        assert (run.dir / name).exists(), name
    assert run.load_checkpoint("best")["epoch"] == 1 + m["loss"].index(min(m["loss"]))
    mtime = (run.dir / "last.pt").stat().st_mtime_ns
    again = pretrain(cfg, store, progress=False)  # same config: reused, not retrained
    assert again.dir == run.dir and (run.dir / "last.pt").stat().st_mtime_ns == mtime
    model = run.load_model("best")
    assert not model.training


def test_store_refuses_to_overwrite_a_different_config(tiny_cfg, tmp_path):
    store = RunStore(tmp_path)
    run = store.open(tiny_cfg)
    run.save_json("config.json", {**tiny_cfg.to_dict(), "epochs": 99})  # intact (in the manifest), but another config
    with pytest.raises(ConfigError, match="different config"):
        store.open(tiny_cfg)
    # a config stored before a field existed (here cpu_amp, at its default) is the same experiment: it opens
    legacy = {k: v for k, v in tiny_cfg.to_dict().items() if k != "cpu_amp"}
    run.save_json("config.json", legacy)
    assert store.open(tiny_cfg).load_json("config.json") == legacy  # opened, not rewritten
    # written behind the store's back, the same file is damage: moved aside (kept), not overwritten
    (run.dir / "config.json").write_text(json.dumps({**tiny_cfg.to_dict(), "epochs": 98}))
    with pytest.warns(UserWarning, match="config.json.*moved aside"):
        store.open(tiny_cfg)
    aside = [d for d in tmp_path.iterdir() if ".corrupt-" in d.name]
    assert len(aside) == 1 and json.loads((aside[0] / "config.json").read_text())["epochs"] == 98


_CHILD = """
import sys
from focusmim.config import Config
from focusmim.store.runs import RunStore
from focusmim.training.train import pretrain
import json
cfg = Config.from_dict(json.loads(sys.argv[1]))
pretrain(cfg, RunStore(sys.argv[2]), progress=False)
"""


@pytest.mark.slow
def test_killed_run_resumes_to_exactly_the_uninterrupted_result(tmp_path):
    cfg = make_config("smoke", epochs=4, n_unlabeled=256, n_labeled=100, n_test=60, batch_size=32, width=0.25,
                      masker="random_patches")
    ref = pretrain(cfg, RunStore(tmp_path / "ref"), progress=False)

    store = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(cfg.to_dict()), str(store)], env=env)
    metrics = store / cfg.key() / "metrics.json"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it somewhere after the first complete epoch
        if metrics.exists() and json.loads(metrics.read_text())["epochs_done"] >= 1:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = json.loads(metrics.read_text())["epochs_done"]
    assert done_before < 4, "the child finished before it could be killed; make the run longer"

    resumed = pretrain(cfg, RunStore(store), progress=False)
    assert resumed.metrics["loss"] == ref.metrics["loss"]
    assert resumed.metrics["decorrelation"] == ref.metrics["decorrelation"]
    for which in ("last", "best"):
        a, b = _weights(ref, which), _weights(resumed, which)
        assert all(torch.equal(a[k], b[k]) for k in a), which


def test_nan_loss_stops_loudly_and_keeps_the_last_good_checkpoint(tiny_cfg, tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    cfg = tiny_cfg.replace(epochs=3)
    calls = {"n": 0}
    real_step = MIM.step

    def poisoned(self, batch):
        calls["n"] += 1
        out = real_step(self, batch)
        if calls["n"] > 3:  # epoch 1 has 3 steps; epoch 2 goes bad
            out["loss"] = torch.tensor(float("nan"))
        return out

    monkeypatch.setattr(MIM, "step", poisoned)
    with pytest.raises(NonFiniteLossError, match="epoch 2"):
        pretrain(cfg, store, progress=False)
    run = store.open(cfg)
    state = run.load_checkpoint("last")
    assert state["epoch"] == 1 and not run.finished
    assert all(torch.isfinite(v).all() for v in state["modules"]["model"].values())


def test_every_checkpoint_loads_as_a_model(tiny_cfg, tmp_path):
    run = pretrain(tiny_cfg.replace(snapshot_epochs=(1,)), RunStore(tmp_path), progress=False)
    x = torch.rand(2, 3, 32, 32)
    outs = [run.load_model(which)(x)[0] for which in ("best", "last", 1)]
    assert all(o.shape == x.shape for o in outs)
    assert torch.equal(outs[1], run.load_model("last")(x)[0])


def test_foreground_loss_false_uses_the_maps_only_to_select_images():
    """foreground_loss=False: same loss as without maps; True: the loss is weighted by them."""
    from focusmim.models import build
    from focusmim.training.objectives import Batch

    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    fg = torch.zeros(4, 1, 32, 32)
    fg[..., 8:24, 8:24] = 1.0
    losses = {}
    for name, over in {"none": dict(foreground="none"), "select": dict(foreground="gt", foreground_loss=False),
                       "object": dict(foreground="gt")}.items():
        cfg = make_config("smoke", masker="none", **over)
        torch.manual_seed(0)
        model = build("autoencoder", width=0.25)
        g = torch.Generator().manual_seed(1)
        out = MIM(cfg, model).step(Batch(images=x, foreground=fg, index=torch.arange(4), generator=g, raw=x))
        losses[name] = float(out["loss"])
    assert losses["select"] == losses["none"]
    assert losses["object"] != losses["none"]


def test_augment_batch_crops_as_the_config_says():
    # crop_fit='redraw' (torchvision's rule) reaches the crops; the default stays 'clamp'
    from focusmim.training.augment import random_resized_crop
    from focusmim.training.train import augment_batch

    x, fg = torch.rand(8, 3, 16, 16), torch.rand(8, 1, 16, 16)
    cfg = make_config("smoke", image_size=16)
    for fit in ("clamp", "redraw"):
        c = cfg if fit == "clamp" else cfg.replace(crop_fit=fit)
        img, mask = augment_batch(c, x, fg, torch.Generator().manual_seed(0))
        want = random_resized_crop(torch.cat([x, fg], 1), torch.Generator().manual_seed(0), fit=fit)
        assert torch.equal(img, want[:, :3]) and torch.equal(mask, want[:, 3:])


def test_every_run_writes_its_training_log(tiny_cfg, tmp_path):
    run = pretrain(tiny_cfg, RunStore(tmp_path), progress=False)
    rows = list(csv.DictReader(io.StringIO(run.read_bytes("metrics.csv").decode())))  # in the run's manifest
    m = run.metrics
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for col, key in (("loss", "loss"), ("lr", "lr"), ("images_per_s", "images_per_s"),
                     ("decorrelation", "decorrelation"), ("epoch_time_s", "epoch_time")):
        assert [float(r[col]) for r in rows] == pytest.approx(m[key], rel=1e-9), col
    assert float(rows[-1]["wall_time_s"]) == pytest.approx(m["wall_time_s"])
    assert all(r["knn_accuracy"] == "" for r in rows) and "knn_epochs" not in m  # the kNN monitor is off


def test_build_objective_compiles_with_the_configs_mode(monkeypatch):
    """compile_mode reaches torch.compile ('reduce-overhead': CUDA graphs on a GPU); without compile nothing compiles."""
    from focusmim.training import train

    calls = []
    monkeypatch.setattr(train.torch, "compile", lambda model, mode=None: calls.append(mode) or model)
    cfg = make_config("smoke", width=0.25)
    train.build_objective(cfg, torch.device("cpu"))
    train.build_objective(cfg.replace(compile=True), torch.device("cpu"))
    train.build_objective(cfg.replace(compile=True, compile_mode="reduce-overhead"), torch.device("cpu"))
    assert calls == [None, "reduce-overhead"]
    graphs = cfg.replace(compile=True, compile_mode="reduce-overhead")
    assert train.captures_graphs(torch.device("cuda"), graphs)
    assert not train.captures_graphs(torch.device("cpu"), graphs)
    assert not train.captures_graphs(torch.device("cuda"), cfg.replace(compile=True))
    assert train.captures_graphs(torch.device("cuda"), cfg.replace(compile=True, compile_mode="max-autotune"))
