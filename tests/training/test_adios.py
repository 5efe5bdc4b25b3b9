"""ADIOS objectives: the mask network's adversarial step, its sparsity penalty and parameters (the maskers and fine-tuning are tested with their modules)."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from focusmim import models
from focusmim.training.adios import apply_masks, mask_objective_params
from focusmim.config import make_config
from focusmim.training.losses import adios_sparsity
from focusmim.training.objectives import OBJECTIVES, Batch


def _cfg(objective, **op):
    return make_config("smoke", objective=objective, width=0.25, lr=1e-3,
                       objective_params={"n_masks": 3, **op})


def _batch(seed=0, b=8):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, 32, 32, generator=g)
    return Batch(images=x, foreground=None, index=torch.arange(b), generator=torch.Generator().manual_seed(1),
                 raw=x)


def _build(cfg):
    torch.manual_seed(0)
    return OBJECTIVES.build(cfg.objective, cfg=cfg, model=models.build_for_config(cfg))


def test_objectives_registered_and_modules():
    for name in ("adios_mim", "adios_simclr", "simclr"):
        assert name in OBJECTIVES.names()
    assert set(_build(_cfg("adios_mim")).modules()) == {"model", "masks"}
    assert set(_build(_cfg("adios_simclr")).modules()) == {"model", "projector", "masks"}
    obj = _build(make_config("smoke", objective="simclr", width=0.25))
    assert set(obj.modules()) == {"model", "projector"} and set(obj.optimizers()) == {"model"}


def test_mask_lr_is_a_fraction_of_the_encoder_lr():
    obj = _build(_cfg("adios_mim"))
    assert obj.opt.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert obj.mask_opt.param_groups[0]["lr"] == pytest.approx(2e-4)
    obj = _build(_cfg("adios_mim", mask_lr=5e-5))
    assert obj.mask_opt.param_groups[0]["lr"] == pytest.approx(5e-5)


def test_bad_objective_params_raise():
    with pytest.raises(ValueError, match="n_masks"):
        mask_objective_params("adios_mim", {"n_masks": 1})
    with pytest.raises(ValueError, match="unknown key"):
        mask_objective_params("adios_mim", {"temperature": 0.1})  # a SimCLR-only parameter
    with pytest.raises(ValueError, match="single"):
        mask_objective_params("adios_simclr", {"single": 1})
    with pytest.raises(ValueError, match="alpha"):
        _build(_cfg("adios_mim", alpha=-1.0))


def test_masks_partition_every_pixel_and_apply_shapes():
    obj = _build(_cfg("adios_mim"))
    x = _batch().images
    masks = obj.masknet(x)
    assert masks.shape == (8, 3, 32, 32)
    assert torch.allclose(masks.sum(1), torch.ones(8, 32, 32), atol=1e-5)
    hidden = apply_masks(x, masks, "mean")
    assert hidden.shape == (24, 3, 32, 32)
    # image 1 under mask 2 is row 1*3+2
    m = masks[1, 2]
    expect = x[1] * (1 - m) + m * x[1].mean(dim=(1, 2), keepdim=True)
    assert torch.allclose(hidden[5], expect, atol=1e-6)
    # the zero fill of the N masked views sums back to (N-1) times the image
    z = apply_masks(x, masks, "zero").view(8, 3, 3, 32, 32).sum(1)
    assert torch.allclose(z, 2 * x, atol=1e-5)


def test_sparsity_barrier():
    def cover(s):
        m = torch.zeros(1, 2, 10, 10)
        m[:, 0].view(-1)[: int(100 * s)] = 1
        m[:, 1] = 1 - m[:, 0]
        return m

    half = float(adios_sparsity(cover(0.5), alpha=1.0))
    assert half == pytest.approx(1.0, abs=1e-6)  # the minimum: both masks at half coverage
    values = [float(adios_sparsity(cover(s))) for s in (0.5, 0.3, 0.1, 0.02)]
    assert values == sorted(values) and values[-1] > 10 * values[0]
    assert float(adios_sparsity(cover(0.0))) > 1e8  # an empty mask is (nearly) infinitely penalised
    assert float(adios_sparsity(cover(0.3), alpha=3.0)) == pytest.approx(3 * values[1], rel=1e-6)


@pytest.mark.parametrize("objective,params", [("adios_mim", {}), ("adios_mim", {"single": True}),
                                              ("adios_simclr", {})])
def test_one_adversarial_step_moves_both_networks_the_intended_way(objective, params):
    cfg = _cfg(objective, mask_lr_ratio=1.0, **params)
    obj = _build(cfg)
    batch = _batch()
    x = batch.images
    old_masknet = copy.deepcopy(obj.masknet)
    enc_before = [p.detach().clone() for p in obj.model.parameters()]
    if objective == "adios_simclr":  # the step's views: the first draw from a generator seeded like the batch's
        v1, v2 = obj.views(Batch(images=x, foreground=None, index=batch.index,
                                 generator=torch.Generator().manual_seed(1), raw=x))
    with torch.no_grad():
        fixed_masks = obj.masknet(x if objective == "adios_mim" else v2)

    # evaluated in training mode (BatchNorm on batch statistics, as in the step), without gradients
    def encoder_loss():
        with torch.no_grad():
            if objective == "adios_mim":
                return float(obj.loss(x, fixed_masks))
            return float(obj.loss(obj.embed(v1), v2, fixed_masks))

    def mask_objective(net):
        with torch.no_grad():
            if objective == "adios_mim":
                m = net(x)
                return float(obj.loss(x, m) - adios_sparsity(m, obj.p["alpha"]))
            m = net(v2)
            return float(obj.loss(obj.embed(v1), v2, m) - adios_sparsity(m, obj.p["alpha"]))

    before = encoder_loss()
    out = obj.step(batch)
    assert list(out)[0] == "loss" and all(v.dim() == 0 and not v.requires_grad for v in out.values())
    after = encoder_loss()
    assert after < before  # the encoder's step lowered its loss on the (same) masks
    # the mask network's step raised its objective against the updated, frozen encoder
    assert mask_objective(obj.masknet) > mask_objective(old_masknet)
    # the encoder really changed, and the mask step sent it no gradient
    assert any(not torch.equal(a, b) for a, b in zip(enc_before, obj.model.parameters()))
    assert all(p.requires_grad for p in obj.model.parameters())


def test_mask_step_leaves_encoder_untouched(monkeypatch):
    obj = _build(_cfg("adios_mim"))
    snapshot = {}
    real_step = obj.mask_opt.step

    def spy():
        snapshot["grads"] = [p.grad for p in obj.model.parameters()]
        snapshot["weights"] = [p.detach().clone() for p in obj.model.parameters()]
        return real_step()

    monkeypatch.setattr(obj.mask_opt, "step", spy)
    obj.step(_batch())
    # gradients from the encoder's own step were cleared? no: the mask step computes none for the encoder,
    # so the grads seen are exactly those of the encoder step (set before), not accumulated
    assert all(g is None or torch.isfinite(g).all() for g in snapshot["grads"])
    assert all(torch.equal(a, b) for a, b in zip(snapshot["weights"], obj.model.parameters()))


def test_simclr_baseline_step_lowers_its_loss():
    cfg = make_config("smoke", objective="simclr", width=0.25, lr=1e-3)
    obj = _build(cfg)
    batch = _batch()
    v1, v2 = obj.views(batch)
    assert v1.shape == v2.shape == batch.images.shape and not torch.equal(v1, v2)

    def loss():
        with torch.no_grad():
            obj.model.eval(), obj.projector.eval()
            out = float(obj.loss(obj.embed(v1), v2, None))
            obj.model.train(), obj.projector.train()
            return out

    before = loss()
    for _ in range(3):
        b = _batch()
        b.generator = torch.Generator().manual_seed(1)  # the same views as v1, v2
        obj.step(b)
    assert loss() < before


def test_sparsity_alpha_defaults_per_objective():
    assert mask_objective_params("adios_simclr", {})["alpha"] == 1.0
    assert math.isclose(mask_objective_params("adios_mim", {})["alpha"], 0.05)


@pytest.mark.parametrize("objective", ["simclr", "adios_simclr"])
def test_views_without_crop_are_the_images(objective):
    # Issue 30: crop=False drew scale (1, 1) with the default aspect ratios (3/4, 4/3), so one side
    # of each view shrank to about 87 % instead of showing the whole image; train.augment_batch
    # already used ratio (1, 1) for the same case.
    b = _batch()
    obj = _build(make_config("smoke", objective=objective, width=0.25, crop=False, flip=False))
    v1, v2 = obj.views(b)
    assert torch.allclose(v1, b.raw, atol=1e-5) and torch.allclose(v2, b.raw, atol=1e-5)
    # with flips, each view is the image or its mirror
    obj = _build(make_config("smoke", objective=objective, width=0.25, crop=False, flip=True))
    for v in obj.views(b):
        same = (v - b.raw).abs().amax(dim=(1, 2, 3)) < 1e-5
        mirrored = (v - b.raw.flip(-1)).abs().amax(dim=(1, 2, 3)) < 1e-5
        assert bool((same | mirrored).all())


class _Blind(torch.nn.Module):
    """A 'model' whose reconstruction ignores its input: the loss depends on the masks only
    through the loss weight."""

    def __init__(self):
        super().__init__()
        self.level = torch.nn.Parameter(torch.tensor(0.25))

    def forward(self, x):
        return self.level.expand_as(x), None


def _mask_gradient(loss_weight):
    cfg = _cfg("adios_mim", **({} if loss_weight is None else {"loss_weight": loss_weight}))
    obj = OBJECTIVES.build("adios_mim", cfg=cfg, model=_Blind())
    x = _batch().images
    masks = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    loss = obj.loss(x, masks)
    (grad,) = torch.autograd.grad(loss, masks, allow_unused=True)
    return float(loss.detach()), torch.zeros_like(masks) if grad is None else grad, obj, x


def test_adios_mim_loss_weight_option():
    # Issue 30: with the soft mask as both what is hidden and the loss weight, the mask network also
    # chooses where the error counts. loss_weight='detached' keeps the weight but gives the mask network
    # gradient only through what it hides; 'image' counts the error on the whole image.
    assert mask_objective_params("adios_mim", {})["loss_weight"] == "mask"  # the default: unchanged
    with pytest.raises(ValueError, match="loss_weight.*allowed: 'mask', 'detached', 'image'"):
        mask_objective_params("adios_mim", {"loss_weight": "pixels"})
    with pytest.raises(ValueError, match="unknown key"):
        mask_objective_params("adios_simclr", {"loss_weight": "image"})  # SimCLR has no reconstruction
    loss, grad, _, x = _mask_gradient(None)
    assert grad.abs().sum() > 0  # the default: the weight alone moves the loss
    loss_d, grad_d, _, _ = _mask_gradient("detached")
    assert loss_d == pytest.approx(loss) and grad_d.abs().sum() == 0  # same value, no gradient via the weight
    loss_i, grad_i, obj, _ = _mask_gradient("image")
    assert grad_i.abs().sum() == 0
    assert loss_i == pytest.approx(float((x - 0.25).square().mean()), rel=1e-5)  # every pixel counts
    # an adversarial step runs with each option
    for lw in ("detached", "image"):
        out = _build(_cfg("adios_mim", loss_weight=lw)).step(_batch())
        assert torch.isfinite(out["loss"]) and torch.isfinite(out["mask_objective"])


def test_adios_mim_loss_weight_default_keeps_run_keys():
    # the option is declared with its default, so configs that do not give it keep their keys
    cfg = make_config("smoke", objective="adios_mim", objective_params={"n_masks": 6, "single": True})
    assert "loss_weight" not in cfg.objective_params
    assert cfg.replace(objective_params={"n_masks": 6, "single": True, "loss_weight": "image"}).key() != cfg.key()
