
import pytest


from focusmim.store.runs import RunStore


def test_summarise_takes_decorrelation_from_the_probed_checkpoint(tmp_path, monkeypatch):
    # Issue 30: the accuracy is the best checkpoint's (lowest training loss) but the decorrelation
    # was the last epoch's. Both now come from the checkpoint that was probed.
    from focusmim.config import make_config
    from focusmim.experiments import summarise

    store = RunStore(tmp_path)
    runs = []
    for seed, best in ((0, 2), (1, 1)):
        run = store.open(make_config("smoke", seed=seed, epochs=3))
        run.save_json("metrics.json", {"finished": True, "loss": [0.3, 0.1 + 0.1 * (best == 1), 0.25],
                                       "decorrelation": [1.0 + seed, 2.0 + seed, 3.0 + seed], "best_epoch": best,
                                       "decorrelation_n": 512, "images_per_s": [10.0] * 3, "epochs_done": 3})
        runs.append(run)
    seen = []
    monkeypatch.setattr("focusmim.experiments.records.evaluate", lambda r, seeds, which, **k: seen.append(which) or
                        {"accuracy_mean": 0.5, "accuracy_std": 0.0, "accuracies": [0.5], "knn_accuracy": 0.4})
    row = summarise("c", runs, (0,), "best")
    assert seen == ["best", "best"]
    assert row["decorrelation"] == pytest.approx((2.0 + 2.0) / 2)  # epoch 2 of seed 0, epoch 1 of seed 1
    assert row["decorrelation_epochs"] == [2, 1]
    assert summarise("c", runs, (0,), "last")["decorrelation"] == pytest.approx((3.0 + 4.0) / 2)
    assert summarise("c", runs, (0,), 1)["decorrelation"] == pytest.approx((1.0 + 2.0) / 2)


def test_training_budget_and_checkpoint_epoch():
    from focusmim.experiments.records import checkpoint_epoch, training_budget

    assert checkpoint_epoch({"loss": [0.3, 0.1, 0.2]}, "best") == 2  # the first lowest loss, as training saves it
    with pytest.raises(ValueError, match="allowed: 'best', 'last'"):
        checkpoint_epoch({"loss": [0.1]}, 0)
    got = training_budget([{"device": "NVIDIA H200", "wall_time_s": 60.0}, {"device": "NVIDIA H200"}])
    assert "H200" in str(got)
