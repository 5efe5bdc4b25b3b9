"""Tests for focusmim.data.cifar10: the JPEG folder layout, its cache and the shared copy."""
from pathlib import Path

import numpy as np
import pytest
import torch

from focusmim.data import load

from tests.conftest import need_external


# ----------------------------------------------------------------------------- cifar10 (ImageFolder)
def _write_folder(root: Path, per_class=3, classes=("cat", "dog")):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(arr).save(root / split / c / f"{i:04d}.jpg", quality=95)


def test_cifar10_folder_splits_and_cache(tmp_path):
    root = tmp_path / "cifar10"
    _write_folder(root, per_class=4)
    cache = tmp_path / "cache"
    tr = load("cifar10", "train", root=root, cache_dir=cache)
    assert tr.images.shape == (8, 3, 32, 32) and tr.classes == ["cat", "dog"]
    assert tr.labels.tolist() == [0] * 4 + [1] * 4
    un = load("cifar10", "unlabeled", root=root, cache_dir=cache)
    assert torch.equal(un.images, tr.images) and un.labels.eq(-1).all()
    sub = load("cifar10", "train", root=root, n=4, image_size=16, cache_dir=cache)
    assert sub.images.shape == (4, 3, 16, 16) and sub.labels.bincount().tolist() == [2, 2]
    te = load("cifar10", "test", root=tmp_path, cache_dir=cache)  # the parent of cifar10/ works too
    assert len(te) == 8
    # decoded once: with the JPEGs gone, the cache still answers
    for p in root.rglob("*.jpg"):
        p.unlink()
    again = load("cifar10", "train", root=root, cache_dir=cache)
    assert torch.equal(again.images, tr.images)


def test_cifar10_missing_root_says_how_to_get_it(tmp_path):
    with pytest.raises(ValueError, match="FOCUSMIM_DATA") as e:
        load("cifar10", "train", root=tmp_path / "nowhere", cache_dir=tmp_path)
    assert "download=True" in str(e.value)


@pytest.mark.shared
@pytest.mark.slow
def test_cifar10_shared_test_split(tmp_path):
    from focusmim.data.base import default_data_root

    root = need_external(default_data_root("cifar10"), "CIFAR-10 JPEGs (ImageFolder train/ and test/)",
                         "set FOCUSMIM_DATA to a folder holding cifar10/, or put it at ../shared/data/cifar10")
    te = load("cifar10", "test", root=root, n=200, cache_dir=tmp_path)
    assert te.images.shape == (200, 3, 32, 32) and te.labels.bincount().tolist() == [20] * 10
    assert te.classes[:2] == ["airplane", "automobile"]
