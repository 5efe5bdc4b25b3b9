"""Tests of focusmim.config.locations: where each dataset's files are found."""
from pathlib import Path

from focusmim.config import locations


def _tree(root: Path) -> Path:
    (root / "train").mkdir(parents=True)
    (root / "test").mkdir()
    return root


def test_each_finder_takes_the_folder_or_the_folder_above_it(tmp_path):
    _tree(tmp_path / "cifar10")
    _tree(tmp_path / "imagenette96")
    (tmp_path / "stl10" / "stl10_binary").mkdir(parents=True)
    assert locations.find_cifar10(tmp_path) == tmp_path / "cifar10" == locations.find_cifar10(tmp_path / "cifar10")
    assert locations.find_imagenette(tmp_path) == tmp_path / "imagenette96"
    assert locations.find_stl10(tmp_path) == tmp_path / "stl10"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert locations.find_cifar10(empty) is None and locations.find_imagenette(empty) is None


def test_focusmim_data_comes_first(tmp_path, monkeypatch):
    _tree(tmp_path / "cifar10")
    _tree(tmp_path / "imagenette96")
    monkeypatch.setenv("FOCUSMIM_DATA", str(tmp_path))
    assert locations.default_data_root("cifar10") == str(tmp_path / "cifar10")
    assert locations.default_data_root("imagenette") == str(tmp_path / "imagenette96")  # its folder's own name


def test_the_cache_and_download_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("FOCUSMIM_CACHE", str(tmp_path))
    assert locations.default_cache_dir() == tmp_path
    assert locations.default_download_root(None) == tmp_path / "torchvision"
    assert locations.default_download_root(tmp_path / "c") == tmp_path / "c" / "torchvision"


def test_the_data_layer_reads_the_same_finders():
    from focusmim.data import base, cifar10, stl10

    assert cifar10.find_root is locations.find_cifar10 and stl10.find_root is locations.find_stl10
    assert base.default_data_root is locations.default_data_root and base.shown_path is locations.shown_path
