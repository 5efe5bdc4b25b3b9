"""Tests for focusmim.data.stl10: the binary format read through torchvision and its errors."""
from pathlib import Path

import pytest
import torch

from focusmim.data import load
from focusmim.data.base import resize_uint8


# ----------------------------------------------------------------------------- stl10 (binary files)
def _stl_images(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 96, 96), generator=g, dtype=torch.uint8)


def _write_stl(root: Path, n_train=6, n_test=4, n_unlabeled=5):
    """Tiny files in STL-10's format: uint8, each image 3x96x96 stored column-major, labels 1..10."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    truth = {}
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1), ("unlabeled", n_unlabeled, 2)):
        imgs = _stl_images(n, seed)
        imgs.transpose(2, 3).contiguous().numpy().tofile(folder / f"{split}_X.bin")
        labels = torch.arange(n) % 10
        if split != "unlabeled":
            (labels + 1).to(torch.uint8).numpy().tofile(folder / f"{split}_y.bin")
        truth[split] = (imgs, labels)
    names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    (folder / "class_names.txt").write_text("\n".join(names) + "\n")
    return truth


def test_stl10_reads_binary_format_through_torchvision(tmp_path):
    truth = _write_stl(tmp_path / "data")
    cache = tmp_path / "cache"
    tr = load("stl10", "train", root=tmp_path / "data", cache_dir=cache)
    assert torch.equal(tr.images, truth["train"][0]) and tr.labels.tolist() == truth["train"][1].tolist()
    assert tr.classes[0] == "airplane" and tr.name == "stl10"
    te = load("stl10", "test", root=tmp_path / "data" / "stl10_binary", cache_dir=cache)
    assert torch.equal(te.images, truth["test"][0])
    un = load("stl10", "unlabeled", root=tmp_path / "data", image_size=32, cache_dir=cache)
    assert un.images.shape == (5, 3, 32, 32) and un.labels.eq(-1).all()
    small = resize_uint8(truth["unlabeled"][0], 32)
    assert torch.equal(un.images, small)


def test_stl10_truncated_file_is_named(tmp_path):
    _write_stl(tmp_path)
    f = tmp_path / "stl10_binary" / "train_X.bin"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(ValueError, match="train_X.bin"):
        load("stl10", "train", root=tmp_path, cache_dir=tmp_path / "cache")
    _write_stl(tmp_path / "b")
    y = tmp_path / "b" / "stl10_binary" / "test_y.bin"
    y.write_bytes(y.read_bytes()[:-1])
    with pytest.raises(ValueError, match="test_y.bin"):
        load("stl10", "test", root=tmp_path / "b", cache_dir=tmp_path / "cache")


def test_stl10_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FOCUSMIM_DATA", str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="download=True") as e:
        load("stl10", "train", root=tmp_path / "nothing", cache_dir=tmp_path)
    assert "stl10_binary" in str(e.value)
