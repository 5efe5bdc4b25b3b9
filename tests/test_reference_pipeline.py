"""The benchmark's re-implementation of the reference pipeline computes what focusmim computes.

Its masks cover the same pixels (periphery, fovea) or the same fractions (random patches) as
focusmim's maskers, its loss equals ``focusmim.training.losses.masked_mse`` on the same inputs, and its
covariance diagnostic is the same number as ``focusmim.evaluation.metrics.decorrelation``.
"""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import reference_pipeline as rp  # noqa: E402

from focusmim import masking  # noqa: E402
from focusmim.training.losses import masked_mse  # noqa: E402
from focusmim.evaluation.metrics import decorrelation  # noqa: E402


@pytest.mark.parametrize("size", [96, 32])
@pytest.mark.parametrize("ratio", [0.6, 0.3])
def test_random_patches_same_fraction(size, ratio):
    x = torch.rand(64, 3, size, size)
    ours = masking.build("random_patches", ratio=ratio)(x, torch.Generator().manual_seed(0)).weight
    rng = np.random.default_rng(0)
    theirs = np.stack([rp.random_patches_mask(size, size, ratio, rng) for _ in range(64)])
    if size % 12 == 0:  # equal cells: every image has exactly the same masked fraction
        assert np.allclose(theirs.mean(axis=(1, 2)), ours.mean(dim=(1, 2, 3)).numpy())
        assert np.allclose(theirs.mean(axis=(1, 2)), int(144 * ratio) / 144)
    else:  # unequal cells (one pixel apart): the same fraction on average
        assert abs(theirs.mean() - float(ours.mean())) < 0.01
    # the mask is a union of whole cells of the relative 12 x 12 grid
    pid = masking.base.patch_index(size, size).numpy()
    for m in theirs[:8]:
        per_cell = np.bincount(pid.ravel(), weights=m.ravel(), minlength=144) / np.bincount(pid.ravel(), minlength=144)
        assert set(np.unique(per_cell)) <= {0.0, 1.0}
        assert int(per_cell.sum()) == int(144 * ratio)


@pytest.mark.parametrize("size", [96, 32])
@pytest.mark.parametrize("ratio", [0.8, 0.5])
def test_periphery_same_pixels(size, ratio):
    ours = masking.build("masked_periphery", ratio=ratio)(torch.rand(1, 3, size, size), None).weight[0, 0]
    theirs = torch.from_numpy(rp.periphery_mask(size, size, ratio))
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("size", [96, 32])
def test_foveal_same_loss_region(size):
    x = torch.rand(1, 3, size, size)
    ours = masking.build("foveal")(x, None).weight[0, 0]
    fov, theirs = rp.foveate(x[0].permute(1, 2, 0).numpy())
    assert torch.equal(ours, torch.from_numpy(theirs))
    assert fov.shape == (size, size, 3) and fov.min() >= 0 and fov.max() <= 1
    if size == 96:
        assert abs(float(theirs.mean()) - 0.974) < 0.001


@pytest.mark.parametrize("strategy", ["random_patches", "masked_periphery", "foveal"])
def test_loss_equals_ours_on_same_masked_inputs(strategy):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 32, 32, generator=g)
    recon = torch.rand(4, 3, 32, 32, generator=g)
    rng = np.random.default_rng(1)
    pairs = [rp.reference_sample(x[i], strategy, None, rng) for i in range(4)]
    xm = torch.stack([p[0] for p in pairs])
    m3 = torch.stack([p[1] for p in pairs])
    ours = masked_mse(recon, x, m3[:, :1])
    theirs = rp.reference_loss(recon, x, m3)
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=0)
    # and the masked input is the image where the mask is 0
    if strategy != "foveal":
        keep = m3 == 0
        assert torch.equal(xm[keep], x[keep])
        fill = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
        assert torch.allclose(xm[~keep], fill[~keep], atol=1e-6)


def test_covariance_diagnostic_matches_decorrelation():
    z = torch.randn(40, 6, 3, 3, generator=torch.Generator().manual_seed(0)) * 5
    z[:, 0] += z[:, 1]  # some correlation
    theirs = float(rp.covariance_reference(z, denominator=39))
    assert theirs == pytest.approx(decorrelation(z), rel=1e-3)


def test_dataset_item_and_short_run():
    imgs = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    ds = rp.ReferenceDataset(rp.to_pil_list(imgs), "masked_periphery", 32)
    x, xm, m = ds[3]
    assert x.shape == xm.shape == m.shape == (3, 32, 32) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    res = rp.run_reference(imgs, "random_patches", batch_size=2, steps=1, warmup=1, num_workers=0, covariance=True)
    assert res["images_per_s"] > 0 and np.isfinite(res["loss"]) and res["covariance_sum"] > 0


def test_errors_name_the_parameter():
    with pytest.raises(ValueError, match="strategy"):
        rp.ReferenceDataset(rp.to_pil_list(torch.zeros(1, 3, 32, 32, dtype=torch.uint8)), "nope", 32)
    with pytest.raises(ValueError, match="ratio"):
        rp.periphery_mask(32, 32, 1.5)
    with pytest.raises(ValueError, match="images"):
        rp.run_reference(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), "foveal", batch_size=2, steps=1)
