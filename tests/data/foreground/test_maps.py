"""Tests for focusmim.data.foreground.maps: rembg u2netp weights, session and predictor, foreground_maps.

Tests marked ``shared`` run the real u2netp network (weights in ../shared/models)
on fewer than 20 images in total; without the weights they are skipped with a line
saying how to provide them (a failure under ``FOCUSMIM_REQUIRE_SHARED=1``, as in CI). Everything else uses an injected stand-in predictor.
"""
from __future__ import annotations


import numpy as np
import pytest
import torch

from focusmim.data import foreground as S

from tests.data.foreground.fgtools import CountingPredict, random_images


def test_foreground_maps_without_cache_batches_everything():
    x = random_images(10)
    p = CountingPredict()
    fg = S.foreground_maps(x, batch_size=4, progress=False, predict=p)
    assert fg.dtype == torch.uint8 and fg.shape == (10, 1, 16, 16)
    assert torch.equal(fg, x[:, :1])
    assert [r[0] for r in p.rows] == [4, 4, 2]


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


# ------------------------------------------------- the real u2netp (shared)
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


# ------------------------------------------------- batched inference (issue 29)
class _FakeInner:
    """Stands for an onnxruntime session of the batch-1 graph: the map is the mean of the channels."""

    def __init__(self, batch_one=True):
        self.calls, self.batch_one = [], batch_one

    def get_inputs(self):
        return [type("I", (), {"name": "input.1"})()]

    def get_providers(self):
        return ["CPUExecutionProvider"]

    def run(self, _, feed):
        x = feed["input.1"]
        self.calls.append(len(x))
        if self.batch_one and len(x) != 1:
            raise RuntimeError("Got invalid dimensions for input: input.1")
        return [x.mean(axis=1, keepdims=True)]


def test_predictor_falls_back_to_image_by_image_when_batching_fails(monkeypatch):
    from focusmim.data.foreground import maps

    inner = _FakeInner()
    sess = type("S", (), {"inner_session": inner})()
    monkeypatch.setattr(maps, "weights_path", lambda: "u2netp.onnx")  # no weights needed: the session is fake
    monkeypatch.setattr(maps, "_batched_session", lambda *a: _FakeInner())  # builds, then fails to run 4 images
    p = S.U2netpPredictor(sess, infer_batch=4)
    assert p.batched is not None
    x = np.random.default_rng(0).random((5, 3, 8, 8), dtype=np.float32)
    out = p.infer(x)
    assert out.shape == (5, 8, 8) and np.allclose(out, x.mean(axis=1))
    assert p.batched is None and inner.calls == [1] * 5  # every image again, one at a time

    def broken(*a):
        raise ValueError("graph cannot be batched")

    monkeypatch.setattr(maps, "_batched_session", broken)
    assert S.U2netpPredictor(sess, infer_batch=4).batched is None


def test_predictor_rejects_a_bad_infer_batch():
    sess = type("S", (), {"inner_session": _FakeInner()})()
    with pytest.raises(ValueError, match="infer_batch"):
        S.U2netpPredictor(sess, infer_batch=0)


@pytest.mark.shared
def test_batched_maps_equal_the_image_by_image_path(u2netp):
    """5 images in calls of 2 (two full calls and a remainder) against rembg's session one image at a time."""
    img = torch.cat([_photos()[:3], _discs(n=2, h=96, w=96)[0]])
    one = S.U2netpPredictor(u2netp, infer_batch=1)
    many = S.U2netpPredictor(u2netp, infer_batch=2)
    assert one.batched is None and many.batched is not None
    a, b = one(img), many(img)
    assert a.shape == b.shape == (5, 1, 96, 96)
    diff = (a.float() - b.float()).abs().max().item() / 255
    assert diff <= 1e-3, diff  # measured: 0 (the same uint8 maps)
