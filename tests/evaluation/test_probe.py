import pytest
import torch

from focusmim import models
from focusmim.evaluation.probe import evaluate, features, finetune, knn_accuracy, linear_probe, probe_features, split_labeled
from focusmim.store.runs import RunStore
from focusmim.training.train import pretrain


def _blobs(n, d=16, classes=4, noise=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centers = torch.randn(classes, d, generator=torch.Generator().manual_seed(99)) * 3
    return centers[y] + noise * torch.randn(n, d, generator=g), y


def test_linear_probe_learns_and_stops_early():
    x, y = _blobs(600)
    res = linear_probe(x[:300], y[:300], x[300:400], y[300:400], x[400:], y[400:], lr=1e-2, max_epochs=1000)
    assert res["accuracy"] > 0.95
    assert res["epochs"] < 1000 and res["best_epoch"] <= res["epochs"]


def test_linear_probe_is_at_chance_on_noise():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(600, 32, generator=g)
    y = torch.randint(0, 4, (600,), generator=g)
    res = linear_probe(x[:300], y[:300], x[300:400], y[300:400], x[400:], y[400:], lr=1e-2)
    assert res["accuracy"] < 0.45


def test_split_is_4_to_1_disjoint_and_seeded():
    tr, va = split_labeled(5000, seed=0)
    assert len(tr) == 4000 and len(va) == 1000
    assert len(set(tr.tolist()) & set(va.tolist())) == 0
    assert not torch.equal(split_labeled(5000, 1)[1], va)


def test_knn_and_multi_seed_summary():
    x, y = _blobs(500)
    assert knn_accuracy(x[:400], y[:400], x[400:], y[400:], k=5) > 0.95
    res = probe_features(x[:400], y[:400], x[400:], y[400:], seeds=(0, 1, 2), lr=1e-2)
    assert len(res["accuracies"]) == 3 and res["accuracy_std"] >= 0
    assert res["accuracy_mean"] > 0.9


def test_features_are_flat_and_batched():
    imgs = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8)
    f = features(lambda x: x * 2, imgs, batch_size=3)
    assert f.shape == (10, 192)
    assert torch.allclose(f, imgs.float().reshape(10, -1) / 255 * 2)


def test_evaluate_a_run_and_cache_it(tiny_cfg, tmp_path):
    run = pretrain(tiny_cfg, RunStore(tmp_path), progress=False)
    res = evaluate(run, seeds=(0, 1), max_epochs=30)
    assert 0 <= res["accuracy_mean"] <= 1 and len(res["accuracies"]) == 2
    assert res["n_test"] == 60 and res["dim"] == 32 * 4 * 4
    assert evaluate(run, seeds=(0, 1), max_epochs=30) == res  # cached
    assert len(list(run.dir.glob("probe-*.json"))) == 1


def test_probe_batch_size_keeps_the_paper_batch_and_eight_steps_for_small_sets():
    from focusmim.evaluation.probe import probe_batch_size

    assert probe_batch_size(4000) == 512
    assert probe_batch_size(800) == 100
    assert probe_batch_size(40) == 16


def test_heads_fitted_together_equal_heads_fitted_one_by_one():
    from focusmim.evaluation.probe import fit_linear_heads

    x, y = _blobs(500, noise=3.0)
    splits = [split_labeled(400, s) for s in (0, 1, 2)]
    together = fit_linear_heads(x[:400], y[:400], splits, x[400:], y[400:], seeds=[0, 1, 2], lr=1e-2)
    for s in (0, 1, 2):
        alone = fit_linear_heads(x[:400], y[:400], [splits[s]], x[400:], y[400:], seeds=[s], lr=1e-2)[0]
        assert alone["epochs"] == together[s]["epochs"]
        assert alone["accuracy"] == together[s]["accuracy"]
        assert abs(alone["val_loss"] - together[s]["val_loss"]) < 1e-5


# moved from tests/test_adios.py
def test_finetune_learns_a_trivial_task_and_validates():
    y = torch.arange(48) % 2
    x = (y.view(-1, 1, 1, 1) * 200 + 20).expand(48, 3, 16, 16).to(torch.uint8).clone()
    torch.manual_seed(0)
    model = models.build("autoencoder", width=0.25)
    before = [p.detach().clone() for p in model.parameters()]
    res = finetune(model, x[:32], y[:32], x[32:40], y[32:40], x[40:], y[40:], lr=1e-3, max_epochs=5, patience=5)
    assert res["accuracy"] == 1.0 and 1 <= res["best_epoch"] <= res["epochs"] <= 5
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the input model is untouched
    with pytest.raises(ValueError, match="lr"):
        finetune(model, x, y, x, y, x, y, lr=0)
    with pytest.raises(ValueError, match="train_images"):
        finetune(model, x.float(), y, x, y, x, y)
