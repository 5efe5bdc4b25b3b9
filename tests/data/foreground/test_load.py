"""Tests for focusmim.data.foreground.load: maps attached to an ImageSet, the filter applied."""
from __future__ import annotations

import types

import pytest
import torch

from focusmim.data import foreground as S

from tests.data.foreground.fgtools import CountingPredict


def _imageset(n=6, size=32):
    from focusmim.data.base import ImageSet

    images = torch.zeros(n, 3, size, size, dtype=torch.uint8)
    # image i gets a bright square of side 2*i: confident pixel counts 0, 4, 16, 36, 64, 100
    for i in range(n):
        images[i, :, : 2 * i, : 2 * i] = 255
    return ImageSet(images, torch.arange(n), [str(i) for i in range(n)], None, "toy")


def test_attach_foreground_drops_and_attaches(tmp_path, capsys):
    ds = _imageset()
    cfg = types.SimpleNamespace(foreground="rembg", dataset="synthetic")
    p = CountingPredict()
    out = S.attach_foreground(ds, cfg, cache_dir=tmp_path, predict=p)
    # 32x32: floor 11.1 pixels -> images with 16, 36, 64, 100 confident pixels stay
    assert out.labels.tolist() == [2, 3, 4, 5]
    assert out.foreground is not None and out.foreground.shape == (4, 1, 32, 32)
    assert torch.equal(out.foreground, ds.images[2:, :1])
    assert torch.equal(out.images, ds.images[2:])
    assert "dropped 2" in capsys.readouterr().out
    # cached next to the dataset cache: a second call computes nothing
    assert list((tmp_path / "foreground").glob("toy-6x32x32-*-u2netp.pt"))
    p2 = CountingPredict()
    again = S.attach_foreground(ds, cfg, cache_dir=tmp_path, predict=p2, progress=False)
    assert p2.calls == 0 and torch.equal(again.foreground, out.foreground)
    # drop=False keeps every image
    every = S.attach_foreground(ds, cfg, cache_dir=tmp_path, predict=p2, progress=False, drop=False)
    assert len(every) == 6 and every.foreground.shape == (6, 1, 32, 32)


def test_attach_foreground_rejects_bad_use(tmp_path):
    ds = _imageset()
    with pytest.raises(ValueError, match="foreground"):
        S.attach_foreground(ds, types.SimpleNamespace(foreground="gt"), cache_dir=tmp_path, predict=CountingPredict())
    cfg = types.SimpleNamespace(foreground="rembg")
    with pytest.raises(ValueError, match="dropped all"):
        S.attach_foreground(
            ds, cfg, cache_dir=tmp_path, progress=False, predict=lambda x: torch.zeros_like(x[:, :1])
        )
    with pytest.raises(ValueError, match="drop"):
        S.attach_foreground(ds, cfg, cache_dir=tmp_path, drop="yes", predict=CountingPredict())


def test_importing_the_package_registers_rembg_with_the_data_layer(tmp_path, monkeypatch):
    from focusmim import data
    from focusmim.config import make_config

    assert data.FOREGROUND_SOURCES["rembg"].__module__ == "focusmim.data.foreground.load"
    cfg = make_config("smoke", foreground="rembg", n_test=4)
    seen = {}

    def fake(ds, c, split):
        seen.update(split=split, n=len(ds), maps=ds.foreground)
        return ds

    monkeypatch.setitem(data.FOREGROUND_SOURCES, "rembg", fake)
    data.load_for_config(cfg, "test")
    assert seen == {"split": "test", "n": 4, "maps": None}  # the loader gets the images without maps
    monkeypatch.delitem(data.FOREGROUND_SOURCES, "rembg")
    with pytest.raises(ValueError, match="import focusmim.data.foreground"):
        data.load_for_config(cfg, "test")


def test_split_with_maps_computes_maps_for_the_first_images_only(tmp_path, monkeypatch):
    from focusmim.config import make_config

    monkeypatch.setenv("FOCUSMIM_CACHE", str(tmp_path))
    p = CountingPredict()
    monkeypatch.setattr(S.load, "foreground_maps", lambda images, **kw: S.foreground_maps(
        images, **{**kw, "predict": p}))
    out = S.split_with_maps(make_config("smoke"), "test", 3, progress=False)
    assert len(out) == 3 and out.foreground.shape[0] == 3 and p.rows == [(3, 3, 32, 32)]
