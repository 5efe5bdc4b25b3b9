import json
import subprocess
from pathlib import Path

import pytest

import focusmim

from focusmim.cli import main
from focusmim.experiments import Table, compare, publish, results_dir, tables_dir
from focusmim.experiments import load_tables
from focusmim.notebook import setup
from focusmim.runs import RunStore


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
    monkeypatch.setattr("focusmim.probe.probe_features", lambda *a, **k: pytest.fail("raw pixels probed again"))
    again = compare(tiny_cfg, {"patches": dict(masker="random_patches")}, seeds=(0,), probe_seeds=(0,),
                    raw_pixels=True, store=RunStore(tmp_path), progress=False)
    assert again.row("raw pixels")["accuracy_mean"] == table.row("raw pixels")["accuracy_mean"]


def test_table_roundtrip(tmp_path):
    t = Table("demo", [{"condition": "a", "accuracy_mean": 0.5, "accuracy_std": 0.1}], {"epochs": 3})
    t.save("x/demo")
    back = Table.load("x/demo")
    assert back.rows == t.rows and back.meta == t.meta and back.runs == {}
    assert json.loads((tables_dir() / "x" / "demo.json").read_text())["title"] == "demo"
    assert not (results_dir() / "x").exists()  # saving never touches the book's tables


def _own_tables(monkeypatch, tmp_path):
    """Empty saved and published tables (conftest's folders are shared by the whole session)."""
    monkeypatch.setenv("FOCUSMIM_TABLES", str(tmp_path / "tables"))
    monkeypatch.setenv("FOCUSMIM_RESULTS", str(tmp_path / "results"))


def test_publish_copies_saved_tables_into_the_book(tmp_path, monkeypatch):
    _own_tables(monkeypatch, tmp_path)
    Table("t", [{"condition": "a"}]).save("smoke/chapter")
    Table("t", [{"condition": "b"}]).save("cpu/chapter")
    with pytest.raises(FileNotFoundError, match="paper"):
        publish(["paper"])
    done = publish(["smoke"])
    assert [(t, c) for _, t, c in done] == [(results_dir() / "smoke" / "chapter.json", True)]
    assert not (results_dir() / "cpu").exists()
    assert [c for *_, c in publish()] == [True, False]  # cpu new, smoke unchanged
    with pytest.raises(FileNotFoundError, match="no saved tables"):
        publish(src=tmp_path / "none")


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_notebook_save_path_leaves_the_committed_results_alone(monkeypatch, tmp_path):
    """What a user (or nbval, which runs without this file's fixtures) gets: no FOCUSMIM_RESULTS/TABLES;
    a notebook's save lands in the run store, and the repository's results/ is byte-for-byte unchanged."""
    repo_results = Path(focusmim.__file__).resolve().parent.parent / "results"
    monkeypatch.delenv("FOCUSMIM_RESULTS", raising=False)
    monkeypatch.delenv("FOCUSMIM_TABLES", raising=False)
    monkeypatch.setenv("FOCUSMIM_RUNS", str(tmp_path / "runs"))
    before = _tree(repo_results)
    nb = setup("01_masking_strategy", preset="smoke")
    path = nb.save(Table("t", [{"condition": "a"}]))
    nb.save(Table("t", [{"condition": "a"}]), "sweep")
    assert path == tmp_path / "runs" / "tables" / "smoke" / "01_masking_strategy.json"
    assert _tree(repo_results) == before
    git = subprocess.run(["git", "status", "--porcelain", "--", str(repo_results)], capture_output=True, text=True,
                         cwd=repo_results.parent)
    if git.returncode == 0:  # a git checkout: nothing under results/ is new or modified by this test
        changed = {line[3:] for line in git.stdout.splitlines()}
        assert not any("01_masking_strategy" in c for c in changed), changed


def test_notebook_setup_defaults_overrides_and_errors(capsys):
    nb = setup("demo", preset="smoke", epochs=3, notebook_params={"ratios": None, "foo": 2})
    assert nb.base.epochs == 3 and nb.seeds == (0,) and nb.ratios == (0.2, 0.5, 0.8) and nb.foo == 2
    assert "Provenance:" in capsys.readouterr().out
    with pytest.raises(ValueError, match="seeds="):
        setup("demo", preset="smoke", seeds=[])
    with pytest.raises(ValueError, match="masker="):
        setup("demo", preset="smoke", masker="nope")


def test_smoke_tables_never_overwrite_a_real_preset(tiny_cfg, tmp_path, monkeypatch):
    _own_tables(monkeypatch, tmp_path)
    nb = setup("chapter", preset="smoke")
    nb.save(Table("t", [{"condition": "a"}]))
    Table("t", [{"condition": "b"}]).save("cpu/chapter")
    publish()
    tables = load_tables("chapter")
    assert list(tables) == ["cpu", "smoke"]  # the larger budget first
    assert tables["cpu"].rows[0]["condition"] == "b"


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
    from focusmim.presets import MAIN_JOB

    assert saved["meta"]["probe"] == MAIN_JOB["smoke"]["probe"]  # the main job's own probe settings
    assert saved["meta"]["n_unlabeled"] == 200 and saved["meta"]["epochs"] == 1  # explicit values win


def test_cli_rejects_bad_values_before_work(capsys):
    assert main(["run", "--preset", "smoke", "--epochs", "0"]) == 2
    assert "epochs=0" in capsys.readouterr().err


def test_table_shows_as_an_html_table():
    t = Table("demo", [{"condition": "a", "accuracy_mean": 0.5, "accuracy_std": 0.1, "knn": 0.25},
                       {"condition": "b", "accuracy_mean": 0.75, "accuracy_std": 0.0, "knn": None}])
    html = t.show(["condition", "accuracy", "knn"]).to_html()
    assert html.count("<tr") == 3 and "<caption" in html and "demo" in html
    assert "50.0 ± 10.0 %" in html and "25.0 %" in html and "|" not in html
    assert "<table" in t._repr_html_() and ">accuracy<" in t._repr_html_()
    assert ">accuracy mean<" in t.show(["condition", "accuracy_mean"]).to_html()  # headers read as words
    assert html.count("white-space: nowrap") == 1  # one style rule shared by the percentage cells only
    assert "nowrap" not in t.show(["condition"]).to_html()
    ft = Table("ft", [{"condition": "a", "finetune": 0.422}]).show(["condition", "finetune"]).to_html()
    assert "42.2 %" in ft  # fine-tuning accuracy reads as a percentage like the probe's


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
    from focusmim.train import NonFiniteLossError

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
    monkeypatch.setattr("focusmim.experiments.evaluate", lambda r, seeds, which, **k: seen.append(which) or
                        {"accuracy_mean": 0.5, "accuracy_std": 0.0, "accuracies": [0.5], "knn_accuracy": 0.4})
    row = summarise("c", runs, (0,), "best")
    assert seen == ["best", "best"]
    assert row["decorrelation"] == pytest.approx((2.0 + 2.0) / 2)  # epoch 2 of seed 0, epoch 1 of seed 1
    assert row["decorrelation_epochs"] == [2, 1]
    assert summarise("c", runs, (0,), "last")["decorrelation"] == pytest.approx((3.0 + 4.0) / 2)
    assert summarise("c", runs, (0,), 1)["decorrelation"] == pytest.approx((1.0 + 2.0) / 2)
