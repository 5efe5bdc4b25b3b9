"""focusmim.data.imagefolder and focusmim.data.identity: own images, and data identity in run keys."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from focusmim import data
from focusmim.config import ConfigError, make_config
from focusmim.data import identity
from focusmim.data.imagefolder import decode_image, survey


def _img(path: Path, size=(32, 32), mode="RGB", value=100, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = {"RGB": (value, 50, 200), "L": value, "RGBA": (value, 0, 0, 0), "P": value}[mode]
    Image.new(mode, size, color).save(path, fmt)
    return path


def make_tree(root: Path, classes=("a", "b", "c"), n_train=4, n_test=2) -> Path:
    for c, cls in enumerate(classes):
        for i in range(n_train):
            _img(root / "train" / cls / f"{i}.png", value=20 * c + i)
        for i in range(n_test):
            _img(root / "test" / cls / f"{i}.jpg", value=20 * c + i + 5)
    return root


def test_mixed_modes_and_sizes_become_rgb_at_the_configured_size(tmp_path):
    root = make_tree(tmp_path / "own")
    _img(root / "train" / "a" / "gray.png", mode="L", value=77)
    _img(root / "train" / "a" / "rgba.png", mode="RGBA")  # fully transparent -> white
    _img(root / "train" / "b" / "odd.png", size=(48, 40), value=9)
    _img(root / "train" / "b" / "pal.gif", mode="P", value=3)
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
    _img(root / "test" / "a" / "odd.png", size=(48, 40))
    with pytest.raises(ValueError, match="image_size"):
        data.load("imagefolder", "test", root=root, cache_dir=False)


def test_truncated_jpeg_is_named_or_skipped_with_a_count(tmp_path):
    root = make_tree(tmp_path / "own")
    bad = _img(root / "train" / "c" / "broken.jpg", size=(64, 64), fmt="JPEG")
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
    (lambda r: _img(r / "test" / "zebra" / "0.png"), r"class folder\(s\) \['zebra'\] that the train split lacks"),
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
            _img(root / cls / f"{i}.png", value=i)
    s = survey(root)
    assert s["classes"] == ["x", "y"] and s["counts"]["train"] + s["counts"]["test"] == 30
    assert 0 < s["counts"]["test"] < 15 and s == survey(root)
    _img(root / "x" / "new.png")  # adding a file moves no other file between splits
    t = survey(root)
    assert t["counts"]["train"] + t["counts"]["test"] == 31 and t["counts"]["test"] - s["counts"]["test"] in (0, 1)
    for i in range(5):
        _img(root / "unlabeled" / "deep" / f"{i}.png")
    assert survey(root)["counts"]["unlabeled"] == 5 and "unlabeled" not in survey(root)["classes"]


def test_cached_by_content(tmp_path):
    root = make_tree(tmp_path / "own")
    cache = tmp_path / "cache"
    a = data.load("imagefolder", "test", root=root, image_size=16, cache_dir=cache)
    assert len(list(cache.glob("imagefolder-test-16px-*.pt"))) == 1
    b = data.load("imagefolder", "test", root=root, image_size=16, cache_dir=cache)
    assert torch.equal(a.images, b.images)
    identity._MEMO.clear()
    _img(root / "test" / "a" / "extra.png")
    c = data.load("imagefolder", "test", root=root, image_size=16, cache_dir=cache)
    assert len(c) == len(a) + 1 and len(list(cache.glob("imagefolder-test-16px-*.pt"))) == 2


def test_config_needs_an_existing_data_root(tmp_path):
    with pytest.raises(ConfigError, match="data_root=None .*dataset='imagefolder'"):
        make_config("smoke", dataset="imagefolder")
    with pytest.raises(ConfigError, match="foreground='gt'"):
        make_config("smoke", dataset="imagefolder", data_root=str(make_tree(tmp_path / "o")), foreground="gt")


# ----------------------------------------------------------------------------- identity in run keys
def test_different_data_never_share_a_key(tmp_path):
    one, two = make_tree(tmp_path / "one"), make_tree(tmp_path / "two", n_train=5)
    same = make_tree(tmp_path / "elsewhere" / "copy")  # same files, other path: same key
    key = lambda r, ds="imagefolder": make_config("smoke", dataset=ds, data_root=str(r)).key()  # noqa: E731
    assert key(one) != key(two)
    assert key(one) == key(same)
    # own images pointed at as 'cifar10' (train/ and test/ tree) no longer take the official data's key
    base = make_config("smoke", dataset="cifar10", data_root=str(tmp_path / "missing"), download=True)
    assert key(one, "cifar10") != base.key() and key(one, "cifar10") != key(two, "cifar10")
    d = make_config("smoke", dataset="cifar10", data_root=str(one)).to_dict()
    assert "data_fingerprint" not in d  # the fingerprint is in the key, not a config field


def test_official_data_keep_their_keys(tmp_path, monkeypatch):
    # the official files are recognised by content: torchvision's published md5 list for CIFAR-10's batches
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(identity, "_md5", lambda p: dict(CIFAR10.train_list + CIFAR10.test_list)
                        .get(p.name, CIFAR10.meta["md5"]))
    folder = tmp_path / "tv" / CIFAR10.base_folder
    folder.mkdir(parents=True)
    for name, _ in CIFAR10.train_list + CIFAR10.test_list:
        (folder / name).write_bytes(b"")
    (folder / "batches.meta").write_bytes(b"")
    cfg = make_config("smoke", dataset="cifar10", data_root=str(tmp_path / "tv"))
    assert identity.fingerprint("cifar10", cfg.data_root) in identity.canonical("cifar10")
    assert identity.key_fingerprint(cfg) is None
    # a changed batch file is other data
    identity._MEMO.clear()
    (folder / "test_batch").write_bytes(b"x")
    monkeypatch.setattr(identity, "_md5", lambda p: "0" * 32)
    assert identity.key_fingerprint(cfg) is not None


def test_committed_store_keys_are_unchanged():
    """Every committed CIFAR-10 run still has its folder's key (the official data add nothing)."""
    store = Path(__file__).resolve().parent.parent / "results" / "store"
    from focusmim.config import Config

    checked = 0
    for d in sorted(store.iterdir()):
        c = json.loads((d / "config.json").read_text())
        if c["dataset"] != "cifar10":
            continue
        c.update(crop_scale=tuple(c["crop_scale"]), snapshot_epochs=tuple(c["snapshot_epochs"]))
        assert Config(**c).key() == d.name
        checked += 1
    assert checked > 0


def test_fingerprint_is_cached_by_tree_signature(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "own")
    fp = identity.fingerprint_files(root, lambda: identity._image_files(root), signature=identity.tree_signature(root))
    monkeypatch.setattr(identity, "_md5", lambda p: pytest.fail("hashed again"))
    assert identity.fingerprint_files(root, lambda: pytest.fail("listed again"),
                                      signature=identity.tree_signature(root)) == fp
