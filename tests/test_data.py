"""Dataset loading: ImageSet, subsets, the on-disk cache, CIFAR-10 folders, STL-10 binaries, configs, atomic writes."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import need_external

from focusmim import data
from focusmim.config import make_config
from focusmim.data import ImageSet, load, load_for_config
from focusmim.data.base import balanced_subset_index, resize_uint8
from focusmim.io import atomic_save, atomic_write_text


# ----------------------------------------------------------------------------- ImageSet and helpers
def _toy(n=12):
    imgs = torch.arange(n, dtype=torch.uint8)[:, None, None, None].expand(n, 3, 4, 4).contiguous()
    return ImageSet(imgs, torch.arange(n) % 3, ["a", "b", "c"], torch.zeros(n, 1, 4, 4, dtype=torch.uint8), "toy")


def test_imageset_subset_to_len():
    ds = _toy()
    sub = ds.subset(torch.tensor([5, 1]))
    assert len(sub) == 2 and sub.images[:, 0, 0, 0].tolist() == [5, 1] and sub.labels.tolist() == [2, 1]
    assert sub.foreground.shape == (2, 1, 4, 4) and sub.classes == ds.classes
    assert len(ds.subset(ds.labels == 0)) == 4
    assert ds.to("cpu").images.device.type == "cpu"


def test_imageset_validates():
    with pytest.raises(ValueError, match="images"):
        ImageSet(torch.zeros(2, 3, 4, 4), torch.zeros(2), [])
    with pytest.raises(ValueError, match="labels"):
        ImageSet(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3), [])
    with pytest.raises(ValueError, match="foreground"):
        ImageSet(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2), [], torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="index"):
        _toy().subset(torch.tensor([99]))


def test_balanced_subset_is_deterministic_and_balanced():
    labels = torch.cat([torch.full((50,), k) for k in range(4)] + [torch.full((10,), 4)])
    idx = balanced_subset_index(labels, 40, seed=0)
    assert idx.tolist() == balanced_subset_index(labels, 40, seed=0).tolist()
    assert idx.tolist() != balanced_subset_index(labels, 40, seed=1).tolist()
    assert len(set(idx.tolist())) == 40 and idx.tolist() == sorted(idx.tolist())
    assert labels[idx].bincount().tolist() == [8] * 5
    # a class with too few images gives what it has; the rest is spread over the others
    counts = labels[balanced_subset_index(labels, 100, seed=0)].bincount().tolist()
    assert counts[4] == 10 and sum(counts) == 100 and max(counts) - min(counts[:4]) <= 1


def test_resize_uint8_antialiased():
    x = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    x[..., ::2, :] = 255  # one-pixel stripes alias badly without antialiasing
    y = resize_uint8(x, 8)
    assert y.shape == (1, 3, 8, 8) and y.dtype == torch.uint8
    assert (y.float() - 127.5).abs().max() < 40


# ----------------------------------------------------------------------------- load() and the cache
def test_load_synthetic_and_cache(tmp_path):
    a = load("synthetic", "train", image_size=16, n=30, seed=2, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1 and "synthetic" in files[0].name and "train" in files[0].name
    assert not list(tmp_path.glob("*.tmp"))
    b = load("synthetic", "train", image_size=16, n=30, seed=2, cache_dir=tmp_path)
    assert torch.equal(a.images, b.images) and torch.equal(a.foreground, b.foreground)
    load("synthetic", "train", image_size=16, n=30, seed=3, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 2


def test_corrupt_cache_file_is_rebuilt(tmp_path):
    a = load("synthetic", "test", image_size=16, n=10, cache_dir=tmp_path)
    (f,) = tmp_path.glob("*.pt")
    f.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable cache"):
        b = load("synthetic", "test", image_size=16, n=10, cache_dir=tmp_path)
    assert torch.equal(a.images, b.images)


def test_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FOCUSMIM_CACHE", str(tmp_path / "c"))
    assert data.cache_dir() == tmp_path / "c"
    load("synthetic", "test", image_size=16, n=4)
    assert list((tmp_path / "c").glob("synthetic-*.pt"))


@pytest.mark.parametrize(
    "args, kwargs, word",
    [
        (("imagenet", "train"), {}, "name"),
        (("synthetic", "val"), {}, "split"),
        (("synthetic", "train"), dict(n=0), "n="),
        (("synthetic", "train"), dict(image_size=3), "image_size"),
        (("synthetic", "train"), dict(seed=-2), "seed"),
        (("synthetic", "train"), dict(download="yes"), "download"),
    ],
)
def test_load_rejects_bad_parameters(args, kwargs, word):
    with pytest.raises(ValueError, match=word) as e:
        load(*args, **kwargs)
    assert "allowed" in str(e.value)


# ----------------------------------------------------------------------------- load_for_config
def test_load_for_config_sizes_and_foreground():
    cfg = make_config("smoke", n_unlabeled=24, n_labeled=20, n_test=10, foreground="gt")
    un = load_for_config(cfg, "unlabeled")
    tr = load_for_config(cfg, "train")
    te = load_for_config(cfg, "test")
    assert (len(un), len(tr), len(te)) == (24, 20, 10)
    assert un.labels.eq(-1).all() and tr.labels.ge(0).all()
    assert un.images.shape[-1] == cfg.image_size and un.foreground is not None
    assert load_for_config(cfg.replace(foreground="none"), "train").foreground is None
    with pytest.raises(ValueError, match="split"):
        load_for_config(cfg, "validation")


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
    from focusmim.config import default_data_root

    root = need_external(default_data_root("cifar10"), "CIFAR-10 JPEGs (ImageFolder train/ and test/)",
                         "set FOCUSMIM_DATA to a folder holding cifar10/, or put it at ../shared/data/cifar10")
    te = load("cifar10", "test", root=root, n=200, cache_dir=tmp_path)
    assert te.images.shape == (200, 3, 32, 32) and te.labels.bincount().tolist() == [20] * 10
    assert te.classes[:2] == ["airplane", "automobile"]


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


# ----------------------------------------------------------------------------- atomic writes
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
