"""Tests for focusmim.data.base: ImageSet, balanced subsets, resizing."""
import pytest
import torch

from focusmim.data import ImageSet
from focusmim.data.base import balanced_subset_index, resize_uint8


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
