import json

import pytest


from focusmim.cli import main
from focusmim.experiments import compare
from focusmim.book.notebook import setup
from focusmim.store.runs import RunStore


def test_compare_tabulates_conditions_with_provenance(tiny_cfg, tmp_path, monkeypatch):
    table = compare(tiny_cfg, {"patches": dict(masker="random_patches"), "ae": dict(masker="none")},
                    seeds=(0, 1), probe_seeds=(0,), raw_pixels=True, store=RunStore(tmp_path), progress=False)
    names = [r["condition"] for r in table.rows]
    assert names == ["patches", "ae", "raw pixels"]
    row = table.row("patches")
    assert row["pretrain_seeds"] == [0, 1] and len(row["run_keys"]) == 2
    assert len(row["accuracies"]) == 2 and row["epochs"] == tiny_cfg.epochs
    assert table.meta["dataset"] == "synthetic" and table.meta["seeds"] == [0, 1]
    md = table.to_markdown()
    assert "| patches |" in md and "%" in md
    # the runs behind each row come back with the table: callers need not train them again
    assert list(table.runs) == ["patches", "ae"]
    assert [r.dir.name for r in table.runs["patches"]] == row["run_keys"]
    assert [r.config.seed for r in table.runs["ae"]] == [0, 1]
    store = RunStore(tmp_path)
    again = compare(tiny_cfg, {"ae": dict(masker="none")}, seeds=(0,), probe_seeds=(0,), store=store, progress=False)
    assert again.runs["ae"][0].dir == table.runs["ae"][0].dir  # reused, not retrained
    # the raw-pixel probe is cached in the first run's folder and read back (not probed again) next time
    first = RunStore(tmp_path).get(tiny_cfg.replace(seed=0, masker="random_patches"))
    assert len(list(first.dir.glob("raw-pixels-*.json"))) == 1
    monkeypatch.setattr("focusmim.evaluation.probe.probe_features", lambda *a, **k: pytest.fail("raw pixels probed again"))
    again = compare(tiny_cfg, {"patches": dict(masker="random_patches")}, seeds=(0,), probe_seeds=(0,),
                    raw_pixels=True, store=RunStore(tmp_path), progress=False)
    assert again.row("raw pixels")["accuracy_mean"] == table.row("raw pixels")["accuracy_mean"]


def test_notebook_setup_defaults_overrides_and_errors(capsys):
    nb = setup("demo", preset="smoke", epochs=3, notebook_params={"ratios": None, "foo": 2})
    assert nb.base.epochs == 3 and nb.seeds == (0,) and nb.ratios == (0.2, 0.5, 0.8) and nb.foo == 2
    assert "Provenance:" in capsys.readouterr().out
    with pytest.raises(ValueError, match="seeds="):
        setup("demo", preset="smoke", seeds=[])
    with pytest.raises(ValueError, match="masker="):
        setup("demo", preset="smoke", masker="nope")


def test_cli_main_job_prints_a_table(capsys, tmp_path):
    rc = main(["run", "--preset", "smoke", "--epochs", "1", "--strategies", "plain autoencoder", "--seeds", "0",
               "--probe-seeds", "0", "--set", "n_unlabeled=200", "--set", "n_labeled=500", "--set", "n_test=200", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "| plain autoencoder |" in out and "| raw pixels |" in out and "Chance is 10.0 % (10 balanced" in out
    assert "Plain autoencoder is best:" in out and "x chance" in out
    assert "47.0 %" not in out and "not comparable" in out  # the paper's STL-10 numbers only under its protocol
    assert f"wrote {tmp_path / 'out' / 'results.png'}" in out
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["meta"]["chance"] == 0.1 and [r["condition"] for r in saved["rows"]] == ["plain autoencoder",
                                                                                          "raw pixels"]
    from focusmim.config.presets import MAIN_JOB

    assert saved["meta"]["probe"] == MAIN_JOB["smoke"]["probe"]  # the main job's own probe settings
    assert saved["meta"]["n_unlabeled"] == 200 and saved["meta"]["epochs"] == 1  # explicit values win


def test_cli_rejects_bad_values_before_work(capsys):
    assert main(["run", "--preset", "smoke", "--epochs", "0"]) == 2
    assert "epochs=0" in capsys.readouterr().err


def test_compare_trains_in_worker_processes(tiny_cfg, tmp_path):
    """``workers=2``: runs trained and probed in two spawned processes, the bar over the whole job; the
    table is read back from the store, and the next call (one process) reuses every run."""
    conditions = {"patches": dict(masker="random_patches"), "ae": dict(masker="none")}
    table = compare(tiny_cfg, conditions, seeds=(0, 1), probe_seeds=(0,), raw_pixels=True, store=RunStore(tmp_path),
                    job_bar=True, workers=2)
    assert [r["condition"] for r in table.rows] == ["patches", "ae", "raw pixels"]
    for runs in table.runs.values():
        assert len(runs) == 2 and all(len(list(r.dir.glob("probe-*.json"))) == 1 for r in runs)
    again = compare(tiny_cfg, conditions, seeds=(0, 1), probe_seeds=(0,), store=RunStore(tmp_path), job_bar=True)
    assert {r.outcome for rs in again.runs.values() for r in rs} == {"reused"}
    assert [r["accuracy_mean"] for r in again.rows] == [r["accuracy_mean"] for r in table.rows[:2]]


def test_a_worker_error_reaches_the_caller_with_its_message(tiny_cfg, tmp_path):
    from focusmim.training.train import NonFiniteLossError

    bad = tiny_cfg.replace(lr=1e12)  # diverges in the first epoch
    with pytest.raises(NonFiniteLossError, match="no epoch completed"):
        compare(bad, {"patches": dict(masker="random_patches"), "ae": dict(masker="none")}, seeds=(0,),
                probe_seeds=(0,), store=RunStore(tmp_path), job_bar=True, workers=2)


def test_worker_plan():
    from focusmim.experiments import worker_plan

    assert worker_plan("cpu", tasks=12, cores=2) == (2, 1)
    assert worker_plan("cpu", tasks=3, cores=8) == (3, 2)
    assert worker_plan("cpu", tasks=12, cores=1) == (1, 1)
    assert worker_plan("cuda", tasks=12, cores=8) == (1, 8)


