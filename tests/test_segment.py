"""Tests for focusmim.segment: rembg u2netp maps, the paper's filter, IoU, caching.

Tests marked ``shared`` run the real u2netp network (weights in ../shared/models)
on fewer than 20 images in total; without the weights they are skipped with a line
saying how to provide them (a failure under ``FOCUSMIM_REQUIRE_SHARED=1``, as in CI). Everything else uses an injected stand-in predictor.
"""
from __future__ import annotations

import os
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import need_external

from focusmim import segment as S

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"


# ----------------------------------------------------------------- helpers
class CountingPredict:
    """Stand-in predictor: the red channel as the map; counts calls and images."""

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.rows: list[tuple[int, int]] = []
        self.fail_after = fail_after

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        self.rows.append(tuple(x.shape))
        return x[:, :1].clone()


def maps_with_counts(counts, size=96, value=204):
    """uint8 (N,1,size,size) maps where image i has counts[i] pixels at `value`, rest 0."""
    fg = torch.zeros(len(counts), 1, size, size, dtype=torch.uint8)
    flat = fg.view(len(counts), -1)
    ar = torch.arange(size * size)
    flat[ar[None, :] < torch.tensor(counts)[:, None]] = value
    return fg


def random_images(n, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, h, w), generator=g, dtype=torch.uint8)


# --------------------------------------------------------------- the filter
def test_keep_mask_boundary_at_96px():
    fg = maps_with_counts([100, 101, 0, 9216])
    assert keep_list(fg) == [False, True, False, True]
    # explicit min_pixels=100 is the same rule
    assert S.keep_mask(fg, min_pixels=100).tolist() == [False, True, False, True]


def keep_list(fg, **kw):
    return S.keep_mask(fg, **kw).tolist()


def test_uint8_threshold_rounding():
    # 0.8 on the 0..1 scale: 204/255 = 0.8 counts, 203/255 = 0.796 does not
    assert keep_list(maps_with_counts([101], value=204)) == [True]
    assert keep_list(maps_with_counts([101], value=203)) == [False]
    assert keep_list(maps_with_counts([101], value=255)) == [True]
    assert S.filter_report(maps_with_counts([1]))["uint8_level"] == 204
    # float maps are compared on the 0..1 scale directly
    f = maps_with_counts([101, 101], value=1).float()
    f[0] *= 0.8
    f[1] *= 0.7999
    assert keep_list(f) == [True, False]
    # other thresholds: 0.5 -> 128 (127.5 rounds up), 1.0 -> 255
    assert keep_list(maps_with_counts([101], value=128), threshold=0.5) == [True]
    assert keep_list(maps_with_counts([101], value=127), threshold=0.5) == [False]
    assert keep_list(maps_with_counts([101], value=254), threshold=1.0) == [False]


def test_min_pixels_scales_with_area():
    assert S.min_pixels_for(96, 96) == 100.0
    assert S.min_pixels_for(32, 32) == pytest.approx(100 * 1024 / 9216)
    assert S.min_pixels_for(192, 192) == 400.0
    # 32x32: the floor is 11.1 pixels, so 11 are dropped and 12 kept
    assert keep_list(maps_with_counts([11, 12], size=32)) == [False, True]
    # 192x192: 400 dropped, 401 kept
    assert keep_list(maps_with_counts([400, 401], size=192)) == [False, True]
    # an explicit number is not scaled
    assert keep_list(maps_with_counts([5, 6], size=32), min_pixels=5) == [False, True]


def test_filter_report_counts():
    fg = maps_with_counts([0, 50, 100, 101, 500])
    r = S.filter_report(fg)
    assert (r["n"], r["kept"], r["dropped"]) == (5, 2, 3)
    assert r["fraction_dropped"] == pytest.approx(0.6)
    assert r["min_pixels"] == 100.0 and r["threshold"] == 0.8


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(threshold=0.0), "threshold"),
        (dict(threshold=1.5), "threshold"),
        (dict(threshold="high"), "threshold"),
        (dict(min_pixels=-1), "min_pixels"),
        (dict(min_pixels="100"), "min_pixels"),
    ],
)
def test_keep_mask_rejects_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        S.keep_mask(maps_with_counts([1]), **kw)


def test_keep_mask_rejects_bad_maps():
    with pytest.raises(ValueError, match="fg"):
        S.keep_mask(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="fg"):
        S.keep_mask(torch.zeros(2, 1, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="fg"):
        S.keep_mask(np.zeros((2, 1, 8, 8), dtype=np.uint8))


# -------------------------------------------------------------------- IoU
def test_iou_values():
    a = torch.zeros(3, 1, 4, 4)
    b = torch.zeros(3, 1, 4, 4)
    a[0, :, :2, :] = 1  # top half vs left half: 4 / 12
    b[0, :, :, :2] = 1
    a[1] = 1  # identical
    b[1] = 1
    # image 2: both empty -> 1
    r = S.iou(a, b)
    assert r.per_image.tolist() == pytest.approx([1 / 3, 1.0, 1.0])
    assert r.mean == pytest.approx((1 / 3 + 2) / 3)
    # uint8 maps binarise at ceil(255 * threshold) and agree with floats
    r8 = S.iou((a * 255).to(torch.uint8), b)
    assert torch.allclose(r8.per_image, r.per_image)
    # disjoint masks -> 0; soft values below the threshold are background
    c = torch.zeros(1, 1, 4, 4)
    c[..., 0, 0] = 0.4
    d = torch.zeros(1, 1, 4, 4)
    d[..., 0, 0] = 1
    assert S.iou(c, d).per_image.tolist() == [0.0]
    assert S.iou(c, d, threshold=0.3).per_image.tolist() == [1.0]


def test_iou_rejects_bad_input():
    with pytest.raises(ValueError, match="equal shapes"):
        S.iou(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="threshold"):
        S.iou(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), threshold=2)
    with pytest.raises(ValueError, match="pred_fg"):
        S.iou(torch.zeros(1, 4, 4), torch.zeros(1, 1, 4, 4))


# ----------------------------------------------------- computing and caching
def test_foreground_maps_without_cache_batches_everything():
    x = random_images(10)
    p = CountingPredict()
    fg = S.foreground_maps(x, batch_size=4, progress=False, predict=p)
    assert fg.dtype == torch.uint8 and fg.shape == (10, 1, 16, 16)
    assert torch.equal(fg, x[:, :1])
    assert [r[0] for r in p.rows] == [4, 4, 2]


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


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=2.5), "batch_size"),
        (dict(workers=0), "workers"),
        (dict(predict="u2netp"), "predict"),
    ],
)
def test_foreground_maps_rejects_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        S.foreground_maps(random_images(2), progress=False, **kw)


def test_foreground_maps_rejects_bad_images_and_predictions():
    with pytest.raises(ValueError, match="images"):
        S.foreground_maps(torch.zeros(2, 3, 8, 8), progress=False, predict=CountingPredict())
    with pytest.raises(ValueError, match="images"):
        S.foreground_maps(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), progress=False, predict=CountingPredict())
    with pytest.raises(ValueError, match="predict returned"):
        S.foreground_maps(random_images(2), progress=False, predict=lambda x: x)


# ------------------------------------------------------------------ weights
def test_missing_weights_raise_before_any_download(tmp_path, monkeypatch):
    import pooch

    def no_network(*a, **k):
        raise AssertionError("rembg tried to download the weights")

    monkeypatch.setattr(pooch, "retrieve", no_network)
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        S.session()
    msg = str(err.value)
    assert "U2NET_HOME" in msg and "u2netp.onnx" in msg and str(tmp_path) in msg
    with pytest.raises(FileNotFoundError, match="U2NET_HOME"):
        S.foreground_maps(random_images(2), progress=False)


def test_wrong_weights_file_is_rejected(tmp_path, monkeypatch):
    (tmp_path / "u2netp.onnx").write_bytes(b"not a model")
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="md5"):
        S.weights_path()


def test_u2net_home_defaults_to_shared_models(monkeypatch):
    monkeypatch.delenv("U2NET_HOME", raising=False)
    expected = SHARED_MODELS if SHARED_MODELS.is_dir() else Path("~/.u2net").expanduser()
    try:
        S.weights_path()
    except FileNotFoundError:
        pass
    assert Path(os.environ["U2NET_HOME"]) == expected


def test_session_rejects_bad_workers():
    with pytest.raises(ValueError, match="workers"):
        S.session(workers=-2)


# ---------------------------------------------------------- ImageSet hookup
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


# ------------------------------------------------- the real u2netp (shared)
@pytest.fixture(scope="module")
def u2netp():
    home = [Path(os.environ["U2NET_HOME"])] if os.environ.get("U2NET_HOME") else []
    found = next((h for h in home + [SHARED_MODELS] if (h / "u2netp.onnx").is_file()), None)
    need_external(found, "rembg's u2netp.onnx weights",
                  f"set U2NET_HOME to its folder (md5 {S.WEIGHTS_MD5}), or put it in ../shared/models")
    old = os.environ.get("U2NET_HOME")
    os.environ["U2NET_HOME"] = str(found)
    try:
        yield S.session()
    finally:
        if old is None:
            os.environ.pop("U2NET_HOME", None)
        else:
            os.environ["U2NET_HOME"] = old


def _photos(size=96):
    from skimage import data as skdata

    out = []
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        x = torch.from_numpy(getattr(skdata, name)()).permute(2, 0, 1)[None].float()
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def _to_pil(img):
    from PIL import Image

    return Image.fromarray(img.permute(1, 2, 0).numpy(), "RGB")


@pytest.mark.shared
def test_u2netp_on_photos_centre_beats_border(u2netp):
    photos = _photos()
    fg = S.foreground_maps(photos, progress=False)
    assert fg.shape == (4, 1, 96, 96) and fg.dtype == torch.uint8
    f = fg[:, 0].float() / 255
    centre = f[:, 32:64, 32:64].mean((1, 2))
    ring = torch.ones(96, 96, dtype=torch.bool)
    ring[12:84, 12:84] = False
    border = f[:, ring].mean(1)
    # measured: centre 0.77/0.98/1.00/0.12, border 0.40/0.43/0.11/0.03 (astronaut, chelsea, coffee, rocket)
    assert (centre > border + 0.05).all(), (centre, border)
    assert (centre[:3] > 0.5).all(), centre  # the large objects are found confidently
    # every photo passes the paper's filter (>100 pixels at >= 0.8; measured 3509/5392/4360/226)
    assert S.keep_mask(fg).all()
    # bit-exact with rembg's own u2netp predict (PIL in, PIL mask out)
    ref = [np.array(u2netp.predict(_to_pil(photos[i]))[0]) for i in (0, 3)]
    assert torch.equal(torch.from_numpy(np.stack(ref))[:, None], fg[[0, 3]])


def _discs(n=4, h=64, w=96, seed=0):
    """A bright disc on a dark, smoothly textured background, with its ground-truth mask."""
    g = torch.Generator().manual_seed(seed)
    tex = torch.rand(n, 3, 8, 12, generator=g)
    tex = torch.nn.functional.interpolate(tex, size=(h, w), mode="bilinear", align_corners=False) * 60
    tex = tex + torch.rand(n, 3, h, w, generator=g) * 20
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    r = torch.randint(12, 20, (n,), generator=g)
    cy = torch.randint(20, h - 20, (n,), generator=g)
    cx = torch.randint(20, w - 20, (n,), generator=g)
    disc = (yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2 <= r[:, None, None] ** 2
    colour = torch.rand(n, 3, 1, 1, generator=g) * 55 + 200
    img = torch.where(disc[:, None], colour.expand(-1, -1, h, w), tex)
    return img.round().clamp(0, 255).to(torch.uint8), disc[:, None].to(torch.uint8) * 255


@pytest.mark.shared
def test_u2netp_finds_a_bright_disc(u2netp):
    img, gt = _discs()  # non-square (64x96) also checks that the resize back keeps H and W apart
    fg = S.foreground_maps(img, progress=False, batch_size=3)
    assert fg.shape == (4, 1, 64, 96)
    r = S.iou(fg, gt)
    # measured: IoU 0.99, 0.92, 0.95, 1.00 (mean 0.97)
    assert (r.per_image > 0.8).all(), r.per_image
    assert r.mean > 0.9, r.mean
    ref = np.array(u2netp.predict(_to_pil(img[1]))[0])
    assert torch.equal(torch.from_numpy(ref)[None], fg[1])
