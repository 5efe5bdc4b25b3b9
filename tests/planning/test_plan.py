"""focusmim.planning.plan: the plan printed before any training, dry runs, and the CLI's --dry-run."""
from __future__ import annotations

import json

import pytest
from pathlib import Path

from focusmim import chapters

from focusmim.planning import plan
from focusmim.config import make_config
from focusmim.book.notebook import setup
from focusmim.store.runs import RunStore
from focusmim.training.train import pretrain


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
    # the stored run has the same model and input: its own step time (its later epochs' median over 3 steps)
    # is the estimate's, and nothing is timed
    later = sorted(RunStore().get(a).metrics["epoch_time"][1:])
    assert p.estimate_s == pytest.approx(later[len(later) // 2] / 3 * 3 * b.epochs)  # 96 images / batch 32
    text = p.format()
    assert "2 pretraining runs, 1 already stored" in text and "WARNING" not in text
    assert "as the stored runs of this job took here" in text and fast_timing == []
    # with nothing of its shape stored, the step is timed
    p = plan.plan_configs([b], preset="smoke", store=RunStore(store.root / "empty"))
    assert p.estimate_s == pytest.approx(0.5 * 3 * b.epochs) and fast_timing == [("none", 32)]


def test_long_cpu_plan_warns_and_names_the_faster_options(tiny_cfg, fast_timing):
    p = plan.plan_configs([tiny_cfg.replace(epochs=5000, device="cpu")], preset="smoke")
    text = p.format()
    assert p.slow_on_cpu() and "WARNING" in text and "GPU" in text and "smaller budget" in text


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


# ----------------------------------------------------------------------------- issue 29: plans that tell the truth
def test_durations_read_in_days_not_thousands_of_hours(tiny_cfg, fast_timing):
    assert plan.duration(4687.7 * plan.HOUR) == "195 days"
    assert [plan.duration(s) for s in (42, 1500, 5 * 3600)] == ["42 s", "25 min", "5.0 h"]
    text = plan.plan_configs([tiny_cfg.replace(epochs=10 ** 6, device="cpu")], preset="smoke").format()
    assert "days of pretraining" in text and " h of" not in text


@pytest.mark.parametrize("preset", ["gpu", "paper"])
def test_gpu_presets_on_a_cpu_are_not_told_to_use_a_gpu_preset(tiny_cfg, fast_timing, preset):
    text = plan.plan_configs([tiny_cfg.replace(epochs=5000, device="cpu")], preset=preset).format()
    assert "WARNING" in text and "(preset 'gpu' or 'paper')" not in text
    assert f"Preset '{preset}' is made for a GPU" in text and "preset 'cpu'" in text


def test_smoke_plan_offers_no_smaller_preset_than_itself(tiny_cfg, fast_timing):
    text = plan.plan_configs([tiny_cfg.replace(epochs=5000, device="cpu")], preset="smoke").format()
    assert "(preset 'gpu' or 'paper')" in text and "preset 'smoke'" not in text


def test_plan_names_the_data_folder_as_the_user_did(tmp_path, monkeypatch, fast_timing):
    from tests.data.datatools import make_tree

    make_tree(tmp_path / "data" / "cifar10")
    monkeypatch.setenv("FOCUSMIM_DATA", str(tmp_path / "data"))
    cfg = make_config("cpu", epochs=1)  # data_root from $FOCUSMIM_DATA, resolved to an absolute path
    text = plan.plan_configs([cfg], preset="cpu").format()
    assert "cifar10 ($FOCUSMIM_DATA/cifar10)" in text and str(tmp_path) not in text


def test_plan_shows_the_shared_folder_relative_to_the_repository(tmp_path, monkeypatch):
    from focusmim.data.base import shown_path

    repo = Path(plan.__file__).resolve().parents[2]
    monkeypatch.delenv("FOCUSMIM_DATA", raising=False)
    if repo.parent.parent != repo.parent:  # a checkout at the filesystem's root has no folder beside it to name
        assert shown_path(repo.parent / "shared" / "data" / "cifar10") == "../shared/data/cifar10"
    assert shown_path(repo / "results") == "./results"
    assert shown_path("../shared/data/stl10") == "../shared/data/stl10"  # as typed
    monkeypatch.setenv("FOCUSMIM_DATA", str(tmp_path))
    assert shown_path(tmp_path / "stl10") == "$FOCUSMIM_DATA/stl10"


def test_committed_notebooks_name_no_absolute_data_folder():
    import json as _json

    repo = Path(plan.__file__).resolve().parents[2]
    for nb in sorted((repo / "notebooks").glob("*.ipynb")):
        for cell in _json.loads(nb.read_text())["cells"]:
            for out in cell.get("outputs", []):
                text = "".join(out.get("text", []))
                for line in text.splitlines():
                    if line.strip().startswith("data:"):
                        folder = line.split("(", 1)[1].split(")", 1)[0] if "(" in line else ""
                        assert not folder.startswith("/"), f"{nb.name}: {line.strip()}"


def test_cli_plan_counts_the_runs_at_a_time(tmp_path, capsys, fast_timing):
    from focusmim.cli import main

    assert main(["run", "--preset", "smoke", "--dry-run", "--workers", "2"]) == 0
    assert "2 runs at a time" in capsys.readouterr().out


def test_rembg_plans_count_the_images_the_filter_keeps(tiny_cfg, fast_timing):
    """rembg's filter drops the images without an object: a stored run of the same data tells how many stay
    (its ``pretraining_images``, or images/s x epoch seconds for runs stored before that field)."""
    a = tiny_cfg.replace(foreground="rembg")
    todo = [a.replace(seed=5), a.replace(seed=6)]
    store = RunStore()
    p = plan.plan_configs(todo, preset="smoke", store=store)
    assert p.estimate_s == pytest.approx(0.5 * 3 * a.epochs * 2)  # all 96 images: 3 steps an epoch
    assert "counts every pretraining image: rembg's filter will drop" in p.format()
    for cfg, metrics in ((a, {"pretraining_images": 40}), (a.replace(seed=1), {"images_per_s": [20.0],
                                                                                "epoch_time": [2.0]})):
        d = store.path(cfg)
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps(cfg.to_dict()))
        (d / "metrics.json").write_text(json.dumps({"finished": True, "loss": [0.1], "epochs_done": 1, "epoch_time": [1.0], **metrics}))
        p = plan.plan_configs(todo, preset="smoke", store=store)
        assert p.estimate_s == pytest.approx(0.5 * 2 * a.epochs * 2)  # 40 images: 2 steps an epoch
        assert "pretraining images after rembg's filter: 40" in p.format()
        (d / "metrics.json").unlink()
        (d / "config.json").unlink()
    other = a.replace(n_unlabeled=64)  # other data: its count says nothing about these runs
    d = store.path(other)
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(other.to_dict()))
    (d / "metrics.json").write_text(json.dumps({"finished": True, "loss": [0.1], "epochs_done": 1, "pretraining_images": 10}))
    assert plan.kept_images(a, store) is None
