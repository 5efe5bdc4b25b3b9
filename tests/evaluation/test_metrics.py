import math

import pytest
import torch
from torch.overrides import TorchFunctionMode

from focusmim.evaluation.metrics import decorrelation, foreground_error, lifetime_sparsity, object_affinity, population_sparsity


def _brute(z):
    x = z.double().reshape(len(z), -1)
    x = (x - x.mean(0)) / x.std(0)
    c = x.T @ x / (len(x) - 1)
    return float(((c**2).sum() - (c.diag() ** 2).sum()) / c.shape[0])


def test_decorrelation_matches_the_d_by_d_definition():
    g = torch.Generator().manual_seed(1)
    mix = torch.randn(40, 40, generator=g)
    z = torch.randn(200, 40, generator=g) @ mix  # correlated units
    assert abs(decorrelation(z) - _brute(z)) < 1e-9
    assert decorrelation(z) > 5 * decorrelation(torch.randn(200, 40, generator=g))


def test_decorrelation_ignores_dead_units_and_needs_two_samples():
    z = torch.randn(100, 10)
    zd = torch.cat([z, torch.zeros(100, 5)], 1)
    assert abs(decorrelation(zd) * 15 - decorrelation(z) * 10) < 1e-9
    try:
        decorrelation(torch.randn(1, 4))
    except ValueError as e:
        assert "N=1" in str(e)
    else:
        raise AssertionError("expected ValueError")


def test_sparsity_extremes():
    one_hot = torch.eye(20)
    assert abs(lifetime_sparsity(one_hot) - 1) < 1e-9
    assert abs(population_sparsity(one_hot) - 1) < 1e-9
    flat = torch.ones(20, 20)
    assert abs(population_sparsity(flat)) < 1e-9


def test_foreground_error_known_answers():
    pred = torch.zeros(2, 3, 4, 4)
    target = torch.zeros(2, 3, 4, 4)
    target[0, :, :2] = 1.0  # image 0: error 1 in the top half, 0 below
    target[1] = 0.5  # image 1: error 0.25 everywhere
    fg = torch.zeros(2, 1, 4, 4)
    fg[0, :, :2, :2] = 1.0  # 4 object pixels, all in the wrong top half
    fg[0, :, 2:, :2] = 1.0  # 4 object pixels below, all right
    fg[1] = 0.5  # soft map: a constant weight does not change the mean
    per = foreground_error(pred, target, fg, per_image=True)
    assert torch.allclose(per, torch.tensor([0.5, 0.25]))
    # pooled: (4*1*3 + 16*0.5*0.25*3) / (3 * (8 + 8)) = (12 + 6) / 48
    assert math.isclose(float(foreground_error(pred, target, fg)), 18 / 48, rel_tol=1e-6)
    # uint8 maps are read as 0..255
    fg8 = (fg * 255).round().to(torch.uint8)
    assert torch.allclose(foreground_error(pred, target, fg8, per_image=True), per, atol=1e-3)
    # a region restricts it further: bottom half only -> image 0 has no error
    region = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    region[:, :, 2:] = True
    assert torch.allclose(foreground_error(pred, target, fg, region, per_image=True), torch.tensor([0.0, 0.25]))
    # an image without weight is NaN per image; all-zero weight raises when pooled
    none = torch.zeros(2, 1, 4, 4)
    assert torch.isnan(foreground_error(pred, target, none, per_image=True)).all()
    with pytest.raises(ValueError, match="zero everywhere"):
        foreground_error(pred, target, none)
    with pytest.raises(ValueError, match="foreground has shape"):
        foreground_error(pred, target, torch.ones(2, 3, 4, 4))
    with pytest.raises(ValueError, match="equal shapes"):
        foreground_error(pred, target[:1], fg)


def test_object_affinity_known_answers():
    fg = torch.zeros(3, 1, 8, 8)
    fg[..., 2:6, 2:6] = 1
    m = torch.stack([fg[:, 0], 1 - fg[:, 0]], 1)
    r = object_affinity(m, fg)
    assert r["affinity"] == [pytest.approx(4.0), pytest.approx(0.0)] and r["object_mask_share"] == 1.0
    assert r["area"] == [pytest.approx(0.25), pytest.approx(0.75)] and r["coverage"] == [1.0, 0.0]
    uniform = object_affinity(torch.full((3, 2, 8, 8), 0.5), fg)
    assert uniform["affinity"] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert object_affinity(m, (fg * 255).to(torch.uint8)) == r  # uint8 maps read as 0..255
    with pytest.raises(ValueError, match="foreground"):
        object_affinity(m, fg[:, :, :4])
    with pytest.raises(ValueError, match="masks"):
        object_affinity(m[0], fg)


class _OnMeta(TorchFunctionMode):
    """Runs torch code on ``meta`` tensors (shapes only, no data): reading a value out
    (``tolist``, ``float``, ``item``) returns zeros, and every tensor's device is recorded."""

    def __init__(self):
        super().__init__()
        self.devices = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in ("tolist", "__float__", "item") and args and args[0].device.type == "meta":
            return torch.zeros(args[0].shape).tolist() if name == "tolist" else 0.0
        out = func(*args, **kwargs)
        for t in (*args, *kwargs.values(), out):
            if isinstance(t, torch.Tensor):
                self.devices.add(t.device.type)
        return out


def test_object_affinity_stays_on_the_masks_device():
    # Issue 30: a tensor made on the CPU inside object_affinity broke chapter 7 on CUDA. The test
    # machine has no GPU, so the masks go to the `meta` device: a CPU tensor met there raises the
    # same "not on the expected device" error, and every tensor the function touches must be on meta.
    fg = torch.zeros(3, 1, 8, 8)
    fg[..., 2:6, 2:6] = 1
    m = torch.stack([fg[:, 0], 1 - fg[:, 0]], 1)
    m, fg = m.to("meta"), fg.to("meta")
    mode = _OnMeta()
    with mode:
        r = object_affinity(m, fg)
    assert mode.devices == {"meta"}
    assert len(r["affinity"]) == 2
