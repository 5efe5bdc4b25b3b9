"""Tests for focusmim.utils.io: the package's one atomic writer."""
from __future__ import annotations

import os

import pytest
import torch

from focusmim.utils.io import atomic_save, atomic_write, atomic_write_text


def test_atomic_save_and_text_round_trip_and_replace(tmp_path):
    p = atomic_save({"x": torch.arange(4)}, tmp_path / "deep" / "a.pt")  # parent folders are made
    assert torch.load(p)["x"].tolist() == [0, 1, 2, 3]
    atomic_save({"x": torch.zeros(1)}, p)
    assert torch.load(p)["x"].tolist() == [0.0]
    t = atomic_write_text("one", tmp_path / "n.txt")
    assert atomic_write_text("two", t).read_text() == "two"
    assert sorted(f.name for f in tmp_path.rglob("*")) == ["a.pt", "deep", "n.txt"]  # no temporary files left


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    p = atomic_write_text("old", tmp_path / "f.txt")

    def half_then_fail(f):
        f.write("new but incom")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(p, half_then_fail, mode="w")
    assert p.read_text() == "old" and [f.name for f in tmp_path.iterdir()] == ["f.txt"]
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "g.bin", lambda f: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert [f.name for f in tmp_path.iterdir()] == ["f.txt"]


@pytest.mark.parametrize("kw, match", [
    (dict(path="x", write=lambda f: None, mode="a"), "mode='a'"),
    (dict(path="", write=lambda f: None), "path=''"),
    (dict(path=3, write=lambda f: None), "path=3"),
])
def test_atomic_write_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        atomic_write(**kw)
    with pytest.raises(ValueError, match="text must be a str"):
        atomic_write_text(b"bytes", "x.txt")


# moved from tests/test_data.py
def test_atomic_save_and_write_text(tmp_path):
    p = atomic_save({"a": torch.arange(4)}, tmp_path / "sub" / "x.pt")
    assert torch.load(p)["a"].tolist() == [0, 1, 2, 3]
    t = atomic_write_text("hi\n", tmp_path / "t.txt")
    assert t.read_text() == "hi\n"
    assert sorted(os.listdir(tmp_path)) == ["sub", "t.txt"]


def test_atomic_save_leaves_old_file_on_failure(tmp_path):
    target = atomic_write_text("old", tmp_path / "f.txt")

    class Boom:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        atomic_save(Boom(), target)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]
    with pytest.raises(ValueError, match="text"):
        atomic_write_text(b"bytes", tmp_path / "g.txt")
