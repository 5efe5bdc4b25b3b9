"""Tests for focusmim.data.imagefolder: any folder of images as a dataset (layouts, decoding, errors, cache)."""
from __future__ import annotations

import pytest
import torch

from focusmim import data
from focusmim.config import ConfigError, make_config
from focusmim.config import identity
from focusmim.data.imagefolder import decode_image, survey

from tests.data.datatools import write_image, make_tree


def test_mixed_modes_and_sizes_become_rgb_at_the_configured_size(tmp_path):
    root = make_tree(tmp_path / "own")
    write_image(root / "train" / "a" / "gray.png", mode="L", value=77)
    write_image(root / "train" / "a" / "rgba.png", mode="RGBA")  # fully transparent -> white
    write_image(root / "train" / "b" / "odd.png", size=(48, 40), value=9)
    write_image(root / "train" / "b" / "pal.gif", mode="P", value=3)
    ds = data.load("imagefolder", "train", root=root, image_size=32, cache_dir=False)
    assert ds.images.shape == (16, 3, 32, 32) and ds.classes == ["a", "b", "c"]
    assert ds.labels.bincount().tolist() == [6, 6, 4]
    gray = decode_image(root / "train" / "a" / "gray.png", 16)
    assert gray.shape == (3, 16, 16) and bool((gray == 77).all())
    assert bool((decode_image(root / "train" / "a" / "rgba.png", 16) == 255).all())
    # a 48x40 image: central 40x40 square, resized
    assert decode_image(root / "train" / "b" / "odd.png", 24).shape == (3, 24, 24)
    unl = data.load("imagefolder", "unlabeled", root=root, image_size=16, cache_dir=False)
    assert len(unl) == 16 and unl.labels.unique().tolist() == [-1]
    assert len(data.load("imagefolder", "test", root=root, image_size=16, cache_dir=False)) == 6


def test_native_size_only_when_one_square_size(tmp_path):
    root = make_tree(tmp_path / "own")
    assert data.load("imagefolder", "test", root=root, cache_dir=False).image_size == 32
    write_image(root / "test" / "a" / "odd.png", size=(48, 40))
    with pytest.raises(ValueError, match="image_size"):
        data.load("imagefolder", "test", root=root, cache_dir=False)


def test_truncated_jpeg_is_named_or_skipped_with_a_count(tmp_path):
    root = make_tree(tmp_path / "own")
    bad = write_image(root / "train" / "c" / "broken.jpg", size=(64, 64), fmt="JPEG")
    bad.write_bytes(bad.read_bytes()[: len(bad.read_bytes()) // 2])
    with pytest.raises(ValueError, match=r"1 unreadable image file.*broken\.jpg.*skip_bad_images"):
        data.load("imagefolder", "train", root=root, image_size=16, cache_dir=False)
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image file\(s\) of 13.*broken\.jpg"):
        ds = data.load("imagefolder", "train", root=root, image_size=16, cache_dir=False, skip_bad=True)
    assert len(ds) == 12
    cfg = make_config("smoke", dataset="imagefolder", data_root=str(root), skip_bad_images=True)
    assert cfg.key() == cfg.replace(skip_bad_images=False).key()  # how to read, not what is read


@pytest.mark.parametrize("damage, words", [
    (lambda r: (r / "train" / "d").mkdir(), r"class folder .*train/d holds no images"),
    (lambda r: __import__("shutil").rmtree(r / "test"), r"missing split folder .*/test \(the 'test' split\)"),
    (lambda r: write_image(r / "test" / "zebra" / "0.png"), r"class folder\(s\) \['zebra'\] that the train split lacks"),
    (lambda r: (r / "unlabeled").mkdir(), r"unlabeled holds no images"),
])
def test_layout_errors_name_the_folder(tmp_path, damage, words):
    root = make_tree(tmp_path / "own")
    damage(root)
    with pytest.raises(ValueError, match=words):
        data.load("imagefolder", "train", root=root, image_size=16, cache_dir=False)


def test_one_folder_layout_splits_deterministically_and_unlabeled_folder(tmp_path):
    root = tmp_path / "flat"
    for cls in ("x", "y"):
        for i in range(15):
            write_image(root / cls / f"{i}.png", value=i)
    s = survey(root)
    assert s["classes"] == ["x", "y"] and s["counts"]["train"] + s["counts"]["test"] == 30
    assert 0 < s["counts"]["test"] < 15 and s == survey(root)
    write_image(root / "x" / "new.png")  # adding a file moves no other file between splits
    t = survey(root)
    assert t["counts"]["train"] + t["counts"]["test"] == 31 and t["counts"]["test"] - s["counts"]["test"] in (0, 1)
    for i in range(5):
        write_image(root / "unlabeled" / "deep" / f"{i}.png")
    assert survey(root)["counts"]["unlabeled"] == 5 and "unlabeled" not in survey(root)["classes"]


def test_cached_by_content(tmp_path):
    root = make_tree(tmp_path / "own")
    cache = tmp_path / "cache"
    a = data.load("imagefolder", "test", root=root, image_size=16, cache_dir=cache)
    assert len(list(cache.glob("imagefolder-test-16px-*.pt"))) == 1
    b = data.load("imagefolder", "test", root=root, image_size=16, cache_dir=cache)
    assert torch.equal(a.images, b.images)
    identity._MEMO.clear()
    write_image(root / "test" / "a" / "extra.png")
    c = data.load("imagefolder", "test", root=root, image_size=16, cache_dir=cache)
    assert len(c) == len(a) + 1 and len(list(cache.glob("imagefolder-test-16px-*.pt"))) == 2


def test_config_needs_an_existing_data_root(tmp_path):
    with pytest.raises(ConfigError, match="data_root=None .*dataset='imagefolder'"):
        make_config("smoke", dataset="imagefolder")
    with pytest.raises(ConfigError, match="foreground='gt'"):
        make_config("smoke", dataset="imagefolder", data_root=str(make_tree(tmp_path / "o")), foreground="gt")
