"""The synthetic dataset: determinism, balance, mask alignment, and that raw pixels are a weak feature."""
import math

import pytest
import torch

from focusmim.data import synthetic
from focusmim.data.synthetic import CLASS_TEXTURE, CLASSES, SHAPES, generate


def test_shapes_dtypes_and_names():
    ds = generate(30, 32, seed=0, split="train")
    assert ds.images.shape == (30, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.foreground.shape == (30, 1, 32, 32) and ds.foreground.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and ds.classes == CLASSES and len(CLASSES) == 10


def test_every_class_has_its_own_shape_and_texture():
    textures = list(CLASS_TEXTURE.values())
    assert len(set(SHAPES)) == 10 and len(set(textures)) == 10
    assert set(textures) == set(synthetic.TEXTURES)


def test_textures_are_distinct_and_phase_free_on_average():
    """Each texture is a different pattern, and averaged over random phases its weight is flat:
    the class cue is not in any single pixel's mean (what a linear read-out of pixels needs)."""
    lin = torch.linspace(-1, 1, 48)
    v, u = torch.meshgrid(lin, lin, indexing="ij")
    u, v = u[None], v[None]
    freq = torch.full((1, 1, 1), 2.0)
    maps = {t: synthetic.texture_map(t, u, v, freq, torch.zeros(1, 1, 1))[0] for t in synthetic.TEXTURES}
    names = list(maps)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert (maps[a] - maps[b]).abs().mean() > 0.1, (a, b)
    phases = torch.linspace(0, 2 * math.pi, 33)[:-1].view(-1, 1, 1)
    for t in ("stripes_h", "stripes_v", "stripes_d", "stripes_a", "concentric"):
        mean = synthetic.texture_map(t, u.expand(32, -1, -1), v.expand(32, -1, -1), freq.expand(32, -1, -1), phases).mean(0)
        assert float(mean.std()) < 0.02, t


def test_deterministic_by_seed_and_split():
    a = generate(40, 32, seed=3, split="train")
    b = generate(40, 32, seed=3, split="train")
    assert torch.equal(a.images, b.images) and torch.equal(a.foreground, b.foreground)
    assert torch.equal(a.labels, b.labels)
    c = generate(40, 32, seed=4, split="train")
    d = generate(40, 32, seed=3, split="test")
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(a.images, d.images)


def test_labels_balanced_and_unlabeled_split():
    ds = generate(200, 16, seed=0, split="test")
    assert ds.labels.bincount(minlength=10).tolist() == [20] * 10
    un = generate(50, 16, seed=0, split="unlabeled")
    assert un.labels.eq(-1).all()


def test_masks_align_with_the_object():
    ds = generate(300, 32, seed=1, split="train")
    fg = ds.foreground.float() / 255
    img = ds.images.float() / 255
    inside = fg > 0.99
    outside = fg < 0.01
    # every image has an object of sensible size, fully inside the frame
    area = fg.flatten(1).mean(1)
    assert area.min() > 0.02 and area.max() < 0.6
    assert inside.flatten(1).any(1).all()
    # objects have the background's mean brightness (version 3: no brightness cue for raw pixels) ...
    lum = img.mean(1, keepdim=True)
    m_in = (lum * inside).flatten(1).sum(1) / inside.flatten(1).sum(1)
    m_out = (lum * outside).flatten(1).sum(1) / outside.flatten(1).sum(1)
    assert abs(float((m_in - m_out).mean())) < 0.03
    # ... but their texture has about twice the local contrast, and a mask shifted away from the
    # object loses it: the mask is not just anywhere
    d = (img[..., 1:, :-1] - img[..., :-1, :-1]).abs() + (img[..., :-1, 1:] - img[..., :-1, :-1]).abs()
    d = d.sum(1, keepdim=True)
    i2, o2 = inside[..., :-1, :-1], outside[..., :-1, :-1]
    c_in = (d * i2).flatten(1).sum(1) / i2.flatten(1).sum(1)
    c_out = (d * o2).flatten(1).sum(1) / o2.flatten(1).sum(1)
    assert float(c_in.mean()) > 1.6 * float(c_out.mean()) and float((c_in > c_out).float().mean()) > 0.8
    shifted = torch.roll(i2, shifts=(13, 13), dims=(2, 3)) & o2
    has = shifted.flatten(1).sum(1) > 5
    c_shift = (d * shifted).flatten(1).sum(1)[has] / shifted.flatten(1).sum(1)[has]
    assert float(c_shift.mean()) < 1.2 * float(c_out.mean())
    # the edge is antialiased: some pixels are partly covered
    assert ((fg > 0.05) & (fg < 0.95)).any()


def test_any_size_renders():
    for size in (16, 40, 96):
        ds = generate(4, size, seed=0, split="train")
        assert ds.images.shape[-1] == size and ds.foreground.shape[-1] == size


def test_raw_pixels_are_weak_and_a_convolutional_feature_reads_the_class():
    """A linear classifier on raw 32 px pixels stays near chance (measured: about 13 %; version 2,
    whose objects were lighter than the background, gave 25 %), while the same classifier on the
    features of an untrained convolutional encoder does better (measured: about 20 %): the
    class is in local texture and outline, which needs a nonlinear feature."""
    from sklearn.linear_model import LogisticRegression

    from focusmim.models import build

    tr = generate(2000, 32, seed=0, split="train")
    te = generate(1000, 32, seed=0, split="test")

    def fit(X, Xt):
        mu, sd = X.mean(0), X.std(0) + 1e-6
        clf = LogisticRegression(C=1e-3, max_iter=300).fit((X - mu) / sd, tr.labels.numpy())
        return clf.score((Xt - mu) / sd, te.labels.numpy())

    raw = fit(tr.images.flatten(1).numpy() / 255, te.images.flatten(1).numpy() / 255)
    torch.manual_seed(0)
    model = build("autoencoder", width=0.25).eval()
    with torch.no_grad():
        enc = [model.encode(d.images.float() / 255).flatten(1).numpy() for d in (tr, te)]
    conv = fit(*enc)
    assert raw < 0.18, raw
    assert conv > raw + 0.04, (conv, raw)


@pytest.mark.parametrize(
    "kwargs, word",
    [(dict(n=0), "n="), (dict(image_size=4), "image_size"), (dict(split="val"), "split"), (dict(seed=-1), "seed")],
)
def test_bad_parameters_raise(kwargs, word):
    args = dict(n=4, image_size=16, seed=0, split="train")
    args.update(kwargs)
    with pytest.raises(ValueError, match=word):
        generate(**args)


def test_shape_sdf_is_negative_at_centre_and_positive_far_away():
    u = torch.tensor([[0.0, 3.0]])
    v = torch.tensor([[0.05, 3.0]])
    for shape in SHAPES:
        d = synthetic.shape_sdf(shape, u, v)
        if shape not in ("ring", "crescent"):  # both are hollow or offset at the centre
            assert d[0, 0] < 0, shape
        assert d[0, 1] > 0, shape
