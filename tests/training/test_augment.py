"""Batched random resized crops: shapes, determinism, identity, geometry, shared channels."""
import math

import pytest
import torch

from focusmim.training.augment import apply_crop_boxes, random_resized_crop, sample_crop_boxes


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _ramps(B, H, W):
    """Channel 0 = column index, channel 1 = row index (pixel centres)."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    return torch.stack([xs, ys])[None].repeat(B, 1, 1, 1)


@pytest.mark.parametrize("C", [1, 3, 4])
def test_shapes_and_dtype(C):
    x = torch.rand(5, C, 24, 20)
    y = random_resized_crop(x, _gen(), flip=True)
    assert y.shape == x.shape and y.dtype == x.dtype


def test_deterministic_and_seed_dependent():
    x = torch.rand(6, 3, 16, 16)
    a = random_resized_crop(x, _gen(1))
    b = random_resized_crop(x, _gen(1))
    c = random_resized_crop(x, _gen(2))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_full_square_crop_is_identity():
    x = torch.rand(4, 3, 16, 16)
    y = random_resized_crop(x, _gen(), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.allclose(y, x, atol=1e-5)


def test_full_crop_with_flip_mirrors_some_samples():
    x = torch.rand(64, 1, 8, 8)
    y = random_resized_crop(x, _gen(), scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=True)
    same = (y - x).abs().flatten(1).amax(1) < 1e-5
    mirrored = (y - x.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert torch.all(same | mirrored)
    assert 10 < int(mirrored.sum()) < 54


def test_known_box_lands_where_expected():
    H = W = 16
    x = _ramps(1, H, W)
    # the box covering columns 4..11 and rows 2..9 (edges at 4 and 12, 2 and 10), resized to 8x8
    boxes = torch.tensor([[2.0, 4.0, 8.0, 8.0, 0.0]])
    y = apply_crop_boxes(x, boxes, size=(8, 8))
    assert torch.allclose(y[0, 0], x[0, 0, 2:10, 4:12], atol=1e-4)
    assert torch.allclose(y[0, 1], x[0, 1, 2:10, 4:12], atol=1e-4)
    flipped = apply_crop_boxes(x, torch.tensor([[2.0, 4.0, 8.0, 8.0, 1.0]]), size=(8, 8))
    assert torch.allclose(flipped[0, 0], x[0, 0, 2:10, 4:12].flip(-1), atol=1e-4)


def test_random_crops_are_affine_maps_of_valid_boxes():
    B, H, W = 32, 24, 24
    x = _ramps(B, H, W)
    scale, ratio = (0.2, 0.6), (3 / 4, 4 / 3)
    y = random_resized_crop(x, _gen(3), scale=scale, ratio=ratio)
    boxes = sample_crop_boxes(B, H, W, _gen(3), scale=scale, ratio=ratio)
    top, left, h, w, _ = boxes.unbind(1)
    # the output column ramp spans the box: first/last output pixel centres sit w/(2W) inside
    # its edges (clamped to the outermost input pixel centres: border padding)
    first_x = (left + w / (2 * W) - 0.5).clamp(0, W - 1)
    last_x = (left + w - w / (2 * W) - 0.5).clamp(0, W - 1)
    assert torch.allclose(y[:, 0, :, 0].mean(1), first_x, atol=1e-3)
    assert torch.allclose(y[:, 0, :, -1].mean(1), last_x, atol=1e-3)
    first_y = (top + h / (2 * H) - 0.5).clamp(0, H - 1)
    assert torch.allclose(y[:, 1, 0, :].mean(1), first_y, atol=1e-3)
    frac = h * w / (H * W)
    assert torch.all(frac <= scale[1] + 1e-5) and torch.all(frac >= scale[0] - 1e-5)
    r = w / h
    assert torch.all(r >= ratio[0] - 1e-4) and torch.all(r <= ratio[1] + 1e-4)
    assert torch.all(top >= 0) and torch.all(left >= 0) and torch.all(top + h <= H + 1e-4) and torch.all(left + w <= W + 1e-4)


def test_extreme_ratio_is_clamped_into_the_image():
    boxes = sample_crop_boxes(200, 10, 10, _gen(), scale=(0.9, 1.0), ratio=(4.0, 8.0))
    top, left, h, w, _ = boxes.unbind(1)
    assert torch.all(w <= 10) and torch.all(left >= 0) and torch.all(left + w <= 10 + 1e-4)
    assert torch.all(h >= 1)


def test_area_fraction_is_uniform_in_scale():
    boxes = sample_crop_boxes(4000, 100, 100, _gen(), scale=(0.1, 0.5), ratio=(1.0, 1.0))
    frac = boxes[:, 2] * boxes[:, 3] / 1e4
    assert abs(float(frac.mean()) - 0.3) < 0.01
    log_r = torch.log(sample_crop_boxes(4000, 100, 100, _gen(), scale=(0.05, 0.1), ratio=(0.5, 2.0))[:, 3:4]
                      / sample_crop_boxes(4000, 100, 100, _gen(), scale=(0.05, 0.1), ratio=(0.5, 2.0))[:, 2:3])
    assert abs(float(log_r.mean())) < 0.03 and float(log_r.max()) <= math.log(2) + 1e-4


def test_same_crop_on_all_channels():
    img = torch.rand(8, 3, 20, 20)
    fg = img[:, :1].clone()
    out = random_resized_crop(torch.cat([img, fg], 1), _gen(5), flip=True)
    assert torch.allclose(out[:, 3], out[:, 0], atol=1e-6)
    alone = random_resized_crop(img, _gen(5), flip=True)
    assert torch.allclose(alone, out[:, :3], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(scale=(0.0, 1.0)), "scale"),
        (dict(scale=(0.5, 0.2)), "scale"),
        (dict(scale=(0.5, 1.5)), "scale"),
        (dict(ratio=(0, 1)), "ratio"),
        (dict(flip="yes"), "flip"),
    ],
)
def test_bad_parameters_raise(kwargs, word):
    with pytest.raises(ValueError, match=word):
        random_resized_crop(torch.rand(2, 3, 8, 8), _gen(), **kwargs)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="x must be"):
        random_resized_crop(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), _gen())
    with pytest.raises(ValueError, match="generator"):
        random_resized_crop(torch.rand(2, 3, 8, 8), None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_boxes():
    x = torch.rand(4, 3, 16, 16)
    g = torch.Generator(device="cuda").manual_seed(0)
    y = random_resized_crop(x.cuda(), g)
    assert y.device.type == "cuda" and y.shape == x.shape


def test_default_boxes_are_still_clamped_draws():
    # Issue 30: the redraw option must leave the default (every stored run's augmentation) as it was:
    # one rand(B, 5) call, area uniform, log-ratio uniform, sides clamped to the image.
    B, H, W = 64, 32, 32
    u = torch.rand(B, 5, generator=_gen(7))
    area = (0.08 + 0.92 * u[:, 0]) * H * W
    aspect = torch.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * u[:, 1])
    w = torch.sqrt(area * aspect).clamp(1.0, W)
    h = torch.sqrt(area / aspect).clamp(1.0, H)
    want = torch.stack([(H - h) * u[:, 2], (W - w) * u[:, 3], h, w, torch.zeros(B)], 1)
    assert torch.equal(sample_crop_boxes(B, H, W, _gen(7)), want)
    assert torch.equal(sample_crop_boxes(B, H, W, _gen(7), fit="clamp"), want)


def test_redraw_follows_torchvision_rule():
    # Issue 30: clamping keeps 14 % of draws that do not fit as large crops; torchvision draws them
    # again. fit="redraw" takes the first of 10 candidates that fits (batched), as torchvision does.
    boxes = sample_crop_boxes(20000, 96, 96, _gen(), fit="redraw")
    top, left, h, w, _ = boxes.unbind(1)
    assert torch.all(w <= 96) and torch.all(h <= 96) and torch.all(top >= 0) and torch.all(left >= 0)
    assert torch.all(top + h <= 96 + 1e-4) and torch.all(left + w <= 96 + 1e-4)
    area = h * w / 96**2
    ratio = w / h
    assert torch.all(ratio >= 3 / 4 - 1e-5) and torch.all(ratio <= 4 / 3 + 1e-5)  # never bent by clamping
    # torchvision's get_params: mean area about 0.48 and 15.5 % above 0.75 (the clamped draws: 0.537, 27.5 %)
    assert abs(float(area.mean()) - 0.480) < 0.008
    assert abs(float((area > 0.75).float().mean()) - 0.153) < 0.012
    # no candidate fits (area 1 with w/h >= 2): torchvision's centre crop, the widest box of the lowest ratio
    top, left, h, w, _ = sample_crop_boxes(5, 16, 16, _gen(), scale=(1.0, 1.0), ratio=(2.0, 3.0), fit="redraw").unbind(1)
    assert torch.allclose(w, torch.full((5,), 16.0)) and torch.allclose(h, torch.full((5,), 8.0))
    assert torch.allclose(top, torch.full((5,), 4.0)) and torch.allclose(left, torch.zeros(5))
    # the crop itself goes through the same batched resampling
    x = torch.rand(4, 3, 16, 16)
    assert random_resized_crop(x, _gen(1), fit="redraw").shape == x.shape
    assert torch.equal(random_resized_crop(x, _gen(1), fit="redraw"), random_resized_crop(x, _gen(1), fit="redraw"))
    with pytest.raises(ValueError, match="fit='drop' is not allowed; allowed: 'clamp', 'redraw'"):
        sample_crop_boxes(2, 8, 8, _gen(), fit="drop")
