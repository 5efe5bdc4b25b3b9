import json

import pytest

from focusmim.cli import main
from focusmim.experiments import Table, compare, results_dir
from focusmim.notebook import load_tables, setup
from focusmim.runs import RunStore


def test_compare_tabulates_conditions_with_provenance(tiny_cfg, tmp_path):
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


def test_table_roundtrip(tmp_path):
    t = Table("demo", [{"condition": "a", "accuracy_mean": 0.5, "accuracy_std": 0.1}], {"epochs": 3})
    t.save("x/demo")
    back = Table.load("x/demo")
    assert back.rows == t.rows and back.meta == t.meta
    assert json.loads((results_dir() / "x" / "demo.json").read_text())["title"] == "demo"


def test_notebook_setup_defaults_overrides_and_errors(capsys):
    nb = setup("demo", preset="smoke", epochs=3, notebook_params={"ratios": None, "foo": 2})
    assert nb.base.epochs == 3 and nb.seeds == (0,) and nb.ratios == (0.2, 0.5, 0.8) and nb.foo == 2
    assert "Provenance:" in capsys.readouterr().out
    with pytest.raises(ValueError, match="seeds="):
        setup("demo", preset="smoke", seeds=[])
    with pytest.raises(ValueError, match="masker="):
        setup("demo", preset="smoke", masker="nope")


def test_smoke_tables_never_overwrite_a_real_preset(tiny_cfg):
    nb = setup("chapter", preset="smoke")
    nb.save(Table("t", [{"condition": "a"}]))
    Table("t", [{"condition": "b"}]).save("cpu/chapter")
    tables = load_tables("chapter")
    assert list(tables) == ["cpu", "smoke"]  # the larger budget first
    assert tables["cpu"].rows[0]["condition"] == "b"


def test_cli_main_job_prints_a_table(capsys):
    rc = main(["run", "--preset", "smoke", "--epochs", "1", "--strategies", "plain autoencoder",
               "--probe-seeds", "0"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "| plain autoencoder |" in out and "| raw pixels |" in out and "47.0 %" in out


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
