"""Tests for focusmim.data (load, load_for_config, the cache folder)."""
import pytest
import torch

from focusmim import data
from focusmim.config import make_config
from focusmim.data import load, load_for_config


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
