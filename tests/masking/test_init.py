"""Tests for focusmim.masking (the registry): every registered masker keeps the output contract and checks its parameters."""
import pytest
import torch

from focusmim import masking
from focusmim.masking import MaskOutput

from tests.masking.masktools import NAMES, images, gen, run


def test_registry_names():
    assert set(NAMES) <= set(masking.available())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [32, 96])
def test_output_contract(name, size):
    x = images(3, size)
    out = run(name, x)
    assert isinstance(out, MaskOutput)
    assert out.inputs.shape == x.shape and out.inputs.dtype == x.dtype
    assert out.weight.shape == (3, 1, size, size) and out.weight.is_floating_point()
    assert out.visible.shape == (3, 1, size, size) and out.visible.dtype == torch.bool
    assert float(out.weight.min()) >= 0 and float(out.weight.max()) <= 1
    assert float(out.weight.sum()) > 0
    # visible pixels are shown unaltered
    vis = out.visible.expand_as(x)
    assert torch.equal(out.inputs[vis], x[vis])
    m = masking.build(name)
    assert m.name == name and type(m).__name__ in repr(m)


def test_deterministic_maskers_batch_equals_one_by_one():
    x = images(4)
    for name in ["masked_periphery", "blurry_periphery", "central", "foveal", "blurry_patches"]:
        m = masking.build(name, fixed=True) if name == "blurry_patches" else masking.build(name)
        kw = {"index": torch.arange(4)} if name == "blurry_patches" else {}
        whole = m(x, gen(0), **kw)
        for i in range(4):
            kwi = {"index": torch.arange(4)[i : i + 1]} if kw else {}
            one = m(x[i : i + 1], gen(0), **kwi)
            assert torch.allclose(one.inputs, whole.inputs[i : i + 1], atol=1e-6), name
            assert torch.equal(one.weight, whole.weight[i : i + 1]), name


@pytest.mark.parametrize(
    "name, kw, word",
    [
        ("random_patches", {"ratio": 0}, "ratio"),
        ("random_patches", {"ratio": 1.2}, "ratio"),
        ("random_patches", {"ratio": 0.001}, "ratio"),
        ("masked_periphery", {"ratio": 1.0}, "ratio"),
        ("central", {"ratio": -0.1}, "ratio"),
        ("blurry_periphery", {"sigma": 0}, "sigma"),
        ("blurry_patches", {"sigma": -1.0}, "sigma"),
        ("covert_attention", {"placement": "left"}, "placement"),
        ("masked_periphery", {"center": (1.5, 0.5)}, "center"),
        ("foveal", {"levels": 1}, "levels"),
        ("foveal", {"alpha": 0}, "alpha"),
        ("random_patches", {"fixed": "yes"}, "fixed"),
        ("none", {"ratio": 0.5}, "ratio"),
        ("nonexistent", {}, "allowed"),
    ],
)
def test_bad_params(name, kw, word):
    with pytest.raises(ValueError, match=word):
        masking.build(name, **kw)


def test_odd_but_valid_sizes():
    for size in [(12, 12), (50, 70)]:
        x = torch.rand(2, 3, *size)
        for name in NAMES:
            out = run(name, x, placement="random") if name == "covert_attention" else run(name, x)
            assert out.inputs.shape == x.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():  # pragma: no cover - only where a GPU exists
    x = images(4)
    for name in ["masked_periphery", "foveal", "blurry_periphery"]:
        cpu = masking.build(name)(x, None)
        gpu = masking.build(name)(x.cuda(), torch.Generator("cuda").manual_seed(0))
        assert torch.allclose(gpu.inputs.cpu(), cpu.inputs, atol=1e-4)
        assert torch.equal(gpu.weight.cpu(), cpu.weight)
    fixed = masking.build("random_patches", fixed=True)
    idx = torch.arange(4)
    assert torch.equal(fixed(x, None, index=idx).weight, fixed(x.cuda(), None, index=idx.cuda()).weight.cpu())
