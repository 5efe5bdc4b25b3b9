"""Tests of focusmim.cli.commands: ``store verify`` and ``store gc`` through the command line."""
from focusmim.cli import main
from focusmim.config import make_config
from focusmim.store.runs import RunStore


def test_store_verify_lists_runs_and_exits_1_on_a_damaged_one(tmp_path, capsys):
    run = RunStore(tmp_path).open(make_config("smoke"))
    assert main(["store", "verify", "--root", str(tmp_path)]) == 0
    assert "1 run folder(s)" in capsys.readouterr().out
    (run.dir / "config.json").write_text("{}")
    assert main(["store", "verify", "--root", str(tmp_path)]) == 1
    assert "damaged" in capsys.readouterr().out


def test_store_gc_removes_leftover_temporary_files(tmp_path, capsys):
    run = RunStore(tmp_path).open(make_config("smoke"))
    (run.dir / ".config.json.123.tmp").write_text("half")
    assert main(["store", "gc", "--root", str(tmp_path)]) == 0
    assert "removed 1 temporary file(s)" in capsys.readouterr().out
    assert not (run.dir / ".config.json.123.tmp").exists()


def test_a_missing_store_root_is_one_line(tmp_path, capsys):
    assert main(["store", "verify", "--root", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
