"""Tests for focusmim.data.foreground.cache: resumable, fingerprinted caching of maps."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from focusmim.data import foreground as S

from tests.data.foreground.fgtools import CountingPredict, random_images


def test_cache_resumes_after_interruption(tmp_path):
    x = random_images(10)
    path = tmp_path / "fg" / "maps.pt"
    # first run: interrupted after the first chunk of 4
    first = CountingPredict(fail_after=1)
    with pytest.raises(KeyboardInterrupt):
        S.foreground_maps(x, batch_size=4, progress=False, cache_path=path, predict=first)
    assert first.calls == 1
    assert not path.exists()
    parts = path.with_name(path.name + ".parts")
    assert len(list(parts.glob("rows_*.pt"))) == 1
    # second run: only the 6 missing rows are computed
    second = CountingPredict()
    fg = S.foreground_maps(x, batch_size=4, progress=False, cache_path=path, predict=second)
    assert sum(r[0] for r in second.rows) == 6
    assert second.calls == 2
    assert torch.equal(fg, x[:, :1])
    assert path.exists() and not parts.exists()
    assert not list(path.parent.glob("*.tmp"))  # atomic writes leave no temp files
    # third run: everything comes from the cache
    third = CountingPredict()
    again = S.foreground_maps(x, batch_size=4, progress=False, cache_path=path, predict=third)
    assert third.calls == 0 and torch.equal(again, fg)


def test_resume_with_another_batch_size(tmp_path):
    x = random_images(10)
    path = tmp_path / "maps.pt"
    with pytest.raises(KeyboardInterrupt):
        S.foreground_maps(x, batch_size=3, progress=False, cache_path=path, predict=CountingPredict(fail_after=2))
    p = CountingPredict()
    fg = S.foreground_maps(x, batch_size=5, progress=False, cache_path=path, predict=p)
    assert sum(r[0] for r in p.rows) == 4  # rows 6..9 only
    assert torch.equal(fg, x[:, :1])


def test_cache_of_other_images_is_recomputed(tmp_path):
    path = tmp_path / "maps.pt"
    a, b = random_images(6, seed=1), random_images(6, seed=2)
    S.foreground_maps(a, batch_size=4, progress=False, cache_path=path, predict=CountingPredict())
    p = CountingPredict()
    fg = S.foreground_maps(b, batch_size=4, progress=False, cache_path=path, predict=p)
    assert sum(r[0] for r in p.rows) == 6
    assert torch.equal(fg, b[:, :1])
    # stale chunks from other images are discarded too
    with pytest.raises(KeyboardInterrupt):
        S.foreground_maps(a, batch_size=2, progress=False, cache_path=tmp_path / "x.pt", predict=CountingPredict(1))
    p = CountingPredict()
    fg = S.foreground_maps(b, batch_size=2, progress=False, cache_path=tmp_path / "x.pt", predict=p)
    assert sum(r[0] for r in p.rows) == 6 and torch.equal(fg, b[:, :1])


def test_chunk_ranges_cover_the_todo_rows_in_order():
    todo = np.array([False, True, True, True, False, False, True])
    assert S.cache.chunk_ranges(todo, 2) == [(1, 3), (3, 4), (6, 7)]
    assert S.cache.chunk_ranges(np.zeros(3, dtype=bool), 2) == []


def test_cache_file_name_is_unchanged(tmp_path):
    # the name (and so every cached map) is the one focusmim.segment used
    images = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    p = S.foreground_cache_path(images, "cifar10 unlabeled", tmp_path)
    fp = S.cache.fingerprint(images)
    assert p == tmp_path / "foreground" / f"cifar10_unlabeled-2x8x8-{fp[:16]}-u2netp.pt"
    with pytest.raises(ValueError, match="images"):
        S.foreground_cache_path(images.float())


def test_chunk_store_drops_parts_of_other_images(tmp_path):
    a, b = random_images(4, seed=0), random_images(4, seed=1)
    store = S.cache.ChunkStore(tmp_path / "m.pt", a)
    store.load_parts()
    store.save_chunk(0, 2, a[:2, :1])
    out, done = S.cache.ChunkStore(tmp_path / "m.pt", a).load_parts()
    assert done.tolist() == [True, True, False, False] and torch.equal(out[:2], a[:2, :1])
    _, done_b = S.cache.ChunkStore(tmp_path / "m.pt", b).load_parts()
    assert not done_b.any()
    store_b = S.cache.ChunkStore(tmp_path / "m.pt", b)
    store_b.finish(b[:, :1])
    assert torch.equal(store_b.load_finished(), b[:, :1]) and not store_b.parts.exists()
    assert store.load_finished() is None  # made from other images
