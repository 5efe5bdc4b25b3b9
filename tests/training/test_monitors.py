"""Tests of focusmim.training.monitors: the kNN monitor and TensorBoard, written where and when they are due."""
import csv
import importlib.util
import io
from pathlib import Path

import pytest
import torch

from focusmim.config import ConfigError, make_config
from focusmim.store.runs import RunStore
from focusmim.training.train import pretrain

from tests.conftest import need_package

ROOT = Path(__file__).resolve().parents[2]


def _weights(run, which="last"):
    return run.load_checkpoint(which)["modules"]["model"] if which == "last" else run.load_checkpoint(which)["model"]


def test_the_knn_monitor_logs_test_accuracy_every_n_epochs(tmp_path):
    from focusmim.data import load_for_config
    from focusmim.evaluation.probe import features, knn_accuracy

    cfg = make_config("smoke", epochs=3, n_unlabeled=64, n_labeled=40, n_test=32, batch_size=32, width=0.25,
                      knn_every=2)
    run = pretrain(cfg, RunStore(tmp_path / "knn"), progress=False)
    m = run.metrics
    assert m["knn_epochs"] == [2, 3] and m["knn_k"] == 20 and all(0 <= a <= 1 for a in m["knn_accuracy"])
    rows = list(csv.DictReader(io.StringIO(run.read_bytes("metrics.csv").decode())))
    assert [r["knn_accuracy"] != "" for r in rows] == [False, True, True]
    # the last value is focusmim.evaluation.probe's kNN (k=20, cosine) of the final weights on the test split
    model = run.load_model("last")
    train, test = load_for_config(cfg, "train"), load_for_config(cfg, "test")
    want = knn_accuracy(features(model.encode, train.images), train.labels, features(model.encode, test.images),
                        test.labels, k=20)
    assert m["knn_accuracy"][-1] == want
    # watching does not change the training: the same weights as without the monitor
    plain = pretrain(cfg.replace(knn_every=0), RunStore(tmp_path / "plain"), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(_weights(run).values(), _weights(plain).values()))
    assert plain.metrics["loss"] == m["loss"]


def test_tensorboard_writes_scalars_and_image_grids_under_the_run(tmp_path):
    need_package("tensorboard", "`pip install tensorboard` (requirements.txt lists it)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = make_config("smoke", epochs=2, n_unlabeled=64, n_labeled=40, n_test=32, batch_size=32, width=0.25,
                      tensorboard=True, knn_every=1)
    run = pretrain(cfg, RunStore(tmp_path), progress=False)
    assert run.dir.name == cfg.replace(tensorboard=False).key()
    events = EventAccumulator(str(run.dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    m = run.metrics
    for tag, want in (("train/loss", m["loss"]), ("train/lr", m["lr"]), ("train/decorrelation", m["decorrelation"]),
                      ("monitor/knn_accuracy (k=20)", m["knn_accuracy"])):
        got = events.Scalars(tag)
        assert [e.step for e in got] == [1, 2] and [e.value for e in got] == pytest.approx(want, rel=1e-6), tag
    grids = events.Images("masked input | reconstruction | target")
    assert [g.step for g in grids] == [1, 2] and (grids[0].width, grids[0].height) == (8 * 32, 3 * 32)
    assert run.verify() == ([], [])  # the event files are not part of the run's data


def test_tensorboard_without_the_package_says_how_to_install_it(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "tensorboard" else real(name, *a, **k))
    with pytest.raises(ConfigError, match="^tensorboard=True needs the tensorboard package.*`pip install tensorboard`"):
        pretrain(make_config("smoke", tensorboard=True), RunStore(tmp_path), progress=False)
    assert not list(tmp_path.iterdir())  # refused before anything was written or loaded
