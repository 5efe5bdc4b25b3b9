"""focusmim.plan: the plan printed before any training, dry runs, and the CLI's --dry-run."""
from __future__ import annotations

import json

import pytest

from focusmim import chapters, plan
from focusmim.config import make_config
from focusmim.notebook import setup
from focusmim.runs import RunStore
from focusmim.train import pretrain


@pytest.fixture
def fast_timing(monkeypatch):
    """A fixed step time, so plans are instant and their estimates exact."""
    calls = []

    def fake(cfg, batch, cache=True):
        calls.append((cfg.masker, batch))
        return 0.5

    monkeypatch.setattr(plan, "step_seconds", fake)
    return calls


@pytest.mark.parametrize("name", chapters.REGISTRY.names())
def test_every_chapter_plans_its_runs_without_training(name):
    nb = setup(name, preset="smoke", plan=False)
    before = _stored()
    cfgs = plan.chapter_configs(name, nb)
    assert cfgs and all(c.key() for c in cfgs)
    assert _stored() == before


def test_chapter_1_plan_counts_strategies_and_sweep():
    nb = setup("01_masking_strategy", preset="smoke", plan=False)
    keys = {c.key() for c in plan.chapter_configs("01_masking_strategy", nb)}
    from focusmim.chapters.ch01_masking_strategy import STRATEGIES, sweep_conditions

    expect = {nb.base.replace(**o).key() for o in [*STRATEGIES.values(), *sweep_conditions(nb.ratios).values()]}
    assert keys == expect


def test_plan_counts_stored_runs_and_estimates_only_the_rest(tiny_cfg, fast_timing):
    store = RunStore()
    a, b = tiny_cfg, tiny_cfg.replace(masker="none")
    pretrain(a, store, progress=False)
    p = plan.plan_configs([a, b, b], preset="smoke", store=store)
    assert (p.n_runs, p.n_stored, p.images["unlabeled"]) == (2, 1, 96)
    assert p.estimate_s == pytest.approx(0.5 * 3 * b.epochs)  # 96 images / batch 32 = 3 steps an epoch
    text = p.format()
    assert "2 pretraining runs, 1 already stored" in text and "WARNING" not in text
    assert fast_timing == [("none", 32)]


def test_long_cpu_plan_warns_and_names_the_faster_options(tiny_cfg, fast_timing):
    p = plan.plan_configs([tiny_cfg.replace(epochs=5000, device="cpu")], preset="smoke")
    text = p.format()
    assert p.slow_on_cpu() and "WARNING" in text and "GPU" in text and "smaller budget" in text


def test_step_seconds_measures_once_per_shape(tiny_cfg, monkeypatch):
    t = plan.step_seconds(tiny_cfg, 8)
    assert t > 0
    import focusmim.train as train

    monkeypatch.setattr(train, "build_objective", lambda *a: pytest.fail("measured again"))
    assert plan.step_seconds(tiny_cfg, 8) == t


def test_imagefolder_plan_states_real_counts_and_resize(tmp_path, fast_timing):
    from tests.data.datatools import make_tree

    root = make_tree(tmp_path / "own", n_train=5, n_test=2)
    cfg = make_config("smoke", dataset="imagefolder", data_root=str(root))
    p = plan.plan_configs([cfg], preset="smoke")
    assert p.images == {"unlabeled": 15, "train": 15, "test": 6}  # not the preset's 768 / 500 / 500
    assert "central square crop" in p.format() and "3 classes" in p.format()


def _stored() -> set:
    """The run folders in the store (not its tables/, main/ or .locks/ folders)."""
    return {r.dir for r in RunStore().runs()}


def test_setup_dry_run_prints_plan_and_exits_outside_a_notebook(capsys, fast_timing):
    before = _stored()
    with pytest.raises(SystemExit) as e:
        setup("03_augmentation", preset="smoke", epochs=3, dry_run=True)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "Plan for 03_augmentation (preset smoke)" in out and "dry run" in out
    assert _stored() == before


def test_cli_run_and_precompute_dry_run(tmp_path, capsys, fast_timing):
    from focusmim.cli import main
    from tests.data.datatools import make_tree

    root = make_tree(tmp_path / "own")
    before = _stored()
    assert main(["run", "--preset", "smoke", "--dataset", "imagefolder", "--data-root", str(root),
                 "--seeds", "0", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "8 pretraining runs, 0 already stored" in out and "12 pretraining images" in out and "dry run" in out
    assert main(["precompute", "03_augmentation", "--preset", "smoke", "--dry-run"]) == 0
    assert "Plan for 03_augmentation" in capsys.readouterr().out
    assert _stored() == before
    assert main(["run", "--preset", "smoke", "--dataset", "imagefolder", "--dry-run"]) == 2
    assert "data_root=None" in capsys.readouterr().err


def test_cli_run_trains_own_images(tmp_path, capsys):
    """The whole path on a small generated tree: plan, training, probe, table."""
    from focusmim.cli import main
    from tests.data.datatools import make_tree

    root = make_tree(tmp_path / "own", classes=("a", "b"), n_train=10, n_test=4)
    assert main(["run", "--preset", "smoke", "--dataset", "imagefolder", "--data-root", str(root), "--epochs", "1",
                 "--image-size", "16", "--strategies", "random patches", "--probe-seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "20 pretraining images, 20 labeled for the probe, 8 test" in out and "random patches" in out
    assert any(json.loads((d / "config.json").read_text())["data_root"] == str(root) for d in _stored())
