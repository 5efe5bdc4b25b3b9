"""ADIOS: adversarially learned masks (Shi et al., ICML 2022), for reconstruction and for SimCLR.

Three objectives register here in :data:`focusmim.training.objectives.OBJECTIVES`:

``adios_mim``
    The masked reconstruction of this project with masks from a mask network
    (``models.build("adios_unet")``) instead of a fixed rule. A soft mask ``m``
    (B,1,H,W) hides ``x * (1 - m) + m * mean_colour`` and the loss is
    ``losses.masked_mse(recon, x, m)``. The mask network *maximises* that loss
    minus the sparsity barrier :func:`focusmim.training.losses.adios_sparsity`. Since
    ``m`` is both what is hidden and the loss weight, the mask network also
    chooses where the error counts; ``loss_weight`` changes that (below).
``adios_simclr``
    The reconstruction-free ADIOS of the paper with a SimCLR loss: two
    random-resized crops of the unaugmented images, the second one hidden by
    each of the N masks as ``x * (1 - m)``; loss = mean over masks of
    ``losses.nt_xent`` between the projected unmasked view and each masked view.
``simclr``
    The same without masks (the baseline).

One optimisation step per batch for each network, in this order: the encoder
(with decoder or projector) on masks computed without gradient, then the mask
network with the encoder's parameters frozen (no gradients are computed for
them). Both optimisers follow the run's schedule (``train.py`` rescales every
optimiser's learning rate).

``cfg.objective_params`` (all optional):

* ``n_masks`` (6): masks N the network outputs (ADIOS on STL-10: 6).
* ``alpha``: weight of the sparsity barrier (default 1.0 for ``adios_simclr``;
  0.05 for ``adios_mim``, whose masked MSE is about 100x smaller than NT-Xent).
* ``mask_lr_ratio`` (0.2): mask-network lr = encoder lr x ratio (ADIOS: ~1/5);
  ``mask_lr`` sets it directly instead.
* ``single`` (False): ADIOS-s, one mask per image sampled from the batch's
  generator instead of all N (N times cheaper; the encoder sees B masked images
  per step instead of B*N).
* ``mask_width`` (None -> ``cfg.width``): channel multiplier of the mask UNet.
* ``loss_weight`` (``"mask"``; ``adios_mim`` only): what weights the reconstruction
  error. ``"mask"``: the soft mask ``m`` (the mask network's gradient flows through
  what it hides and through the weight); ``"detached"``: ``m`` without its gradient
  (the same loss value; the mask network can only make the task harder by what it
  hides); ``"image"``: every pixel equally (the encoder also reconstructs what it sees).
* ``temperature`` (0.2), ``proj_hidden`` (512), ``proj_dim`` (128): SimCLR head.

The official ADIOS code re-encodes the unmasked view inside its loop over
masks; here it is encoded once per step and the N masked views go through the
encoder as one batch of B*N.

Example:
    >>> import torch
    >>> from focusmim import models
    >>> from focusmim.config import make_config
    >>> from focusmim.training.objectives import OBJECTIVES, Batch
    >>> cfg = make_config("smoke", objective="adios_mim", width=0.25, objective_params={"n_masks": 3})
    >>> obj = OBJECTIVES.build("adios_mim", cfg=cfg, model=models.build_for_config(cfg))
    >>> sorted(obj.modules())
    ['masks', 'model']
    >>> x = torch.rand(4, 3, 32, 32)
    >>> out = obj.step(Batch(images=x, foreground=None, index=torch.arange(4),
    ...                      generator=torch.Generator().manual_seed(0), raw=x))
    >>> list(out)[:3]
    ['loss', 'mask_objective', 'sparsity']
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from focusmim import models
from focusmim.training.augment import random_resized_crop
from focusmim.config import Config
from focusmim.training.losses import adios_sparsity, masked_mse, nt_xent
from focusmim.masking.base import mean_fill
from focusmim.training.objectives import OBJECTIVES, Batch, autocast, make_optimizer

__all__ = ["AdiosMIM", "AdiosSimCLR", "SimCLR", "Projector", "ADIOS_DEFAULTS", "apply_masks",
           "mask_objective_params", "frozen"]

ADIOS_DEFAULTS: dict[str, Any] = dict(n_masks=6, mask_lr_ratio=0.2, mask_lr=None, single=False, mask_width=None,
                                      temperature=0.2, proj_hidden=512, proj_dim=128)
_ALPHA = {"adios_mim": 0.05, "adios_simclr": 1.0, "simclr": 0.0}
_OWN_DEFAULTS: dict[str, dict[str, Any]] = {"adios_mim": dict(loss_weight="mask")}


def mask_objective_params(objective: str, params: dict | None) -> dict:
    """The objective's parameters: defaults, then ``params``; checked against the
    objective's declared schema (:data:`focusmim.config.schemas.OBJECTIVES`).

    Example:
        >>> p = mask_objective_params("adios_mim", {"n_masks": 4})
        >>> p["n_masks"], p["alpha"], p["single"]
        (4, 0.05, False)
        >>> mask_objective_params("adios_mim", {"n_mask": 4})
        Traceback (most recent call last):
        ...
        ValueError: objective_params of objective 'adios_mim' has unknown key(s) n_mask; allowed: alpha, loss_weight, mask_lr, mask_lr_ratio, mask_width, n_masks, single
    """
    if objective not in _ALPHA:
        raise ValueError(f"objective={objective!r} is not allowed; allowed: 'adios_mim', 'adios_simclr', 'simclr'")
    params = dict(params or {})
    OBJECTIVES.check_params(objective, params, f"objective_params of objective {objective!r}")
    return {**ADIOS_DEFAULTS, **_OWN_DEFAULTS.get(objective, {}), "alpha": _ALPHA[objective], **params}


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Parameters of ``module`` get ``requires_grad=False`` inside the block (no
    gradient is computed for them), restored afterwards."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in params:
            p.requires_grad_(True)


def apply_masks(x: torch.Tensor, masks: torch.Tensor, fill: str = "mean") -> torch.Tensor:
    """Hide ``x`` (B,3,H,W) by every mask of ``masks`` (B,N,H,W): (B*N,3,H,W), mask-major
    within each image (row ``b*N + k`` is image b under mask k).

    ``fill="mean"``: ``x*(1-m) + m*mean_colour`` (the reconstruction objective);
    ``fill="zero"``: ``x*(1-m)`` (ADIOS's siamese objective).

    Example:
        >>> x = torch.ones(2, 3, 4, 4); m = torch.zeros(2, 2, 4, 4); m[:, 0] = 1
        >>> y = apply_masks(x, m, fill="zero"); tuple(y.shape), float(y[0].sum()), float(y[1].sum())
        ((4, 3, 4, 4), 0.0, 48.0)
    """
    if fill not in ("mean", "zero"):
        raise ValueError(f"fill={fill!r} is not allowed; allowed: 'mean', 'zero'")
    if masks.dim() != 4 or masks.shape[0] != x.shape[0] or masks.shape[2:] != x.shape[2:]:
        raise ValueError(f"masks has shape {tuple(masks.shape)}; allowed: (B, N, H, W) matching x {tuple(x.shape)}")
    B, N = masks.shape[:2]
    m = masks.unsqueeze(2)  # (B,N,1,H,W)
    xe = x.unsqueeze(1)  # (B,1,3,H,W)
    out = xe * (1 - m)
    if fill == "mean":
        out = out + m * mean_fill(x).unsqueeze(1)
    return out.reshape(B * N, *x.shape[1:])


class _Adversarial:
    """Shared parts: the mask network, its optimiser and mask selection."""

    name = "adios"

    def _init_masks(self, cfg: Config, p: dict) -> None:
        width = cfg.width if p["mask_width"] is None else p["mask_width"]
        self.masknet = models.build("adios_unet", n_masks=p["n_masks"], image_size=cfg.image_size, width=width)
        self.masknet.to(next(self.model.parameters()).device)
        mask_lr = p["mask_lr"] if p["mask_lr"] is not None else cfg.resolved_lr() * p["mask_lr_ratio"]
        self.mask_opt = make_optimizer(cfg, self.masknet.parameters(), lr=mask_lr)

    def select(self, masks: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """All N masks (B,N,H,W), or with ``single`` one per image sampled from ``generator``
        (B,1,H,W). The choice is remembered so the mask network's step uses the same one."""
        self._last_k = None
        if not self.p["single"]:
            return masks
        B, N = masks.shape[:2]
        k = torch.randint(N, (B,), generator=generator, device=generator.device).to(masks.device)
        self._last_k = k.view(B, 1, 1, 1).expand(B, 1, *masks.shape[2:])
        return masks.gather(1, self._last_k)

    def mask_step(self, loss: torch.Tensor, masks: torch.Tensor, adv: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of the mask network: maximise the encoder's loss ``adv`` minus the
        sparsity penalty (call with the encoder frozen); returns the step's logged values."""
        sparsity = adios_sparsity(masks, self.p["alpha"])
        mask_loss = sparsity - adv
        self.mask_opt.zero_grad(set_to_none=True)
        mask_loss.backward()
        self.mask_opt.step()
        return {"loss": loss.detach(), "mask_objective": (adv - sparsity).detach(), "sparsity": sparsity.detach(),
                "mask_area_min": masks.detach().mean(dim=(2, 3)).min()}

    def reselect(self, masks: torch.Tensor) -> torch.Tensor:
        """The previous :meth:`select` choice applied to freshly computed ``masks``."""
        return masks if getattr(self, "_last_k", None) is None else masks.gather(1, self._last_k)


@OBJECTIVES.register("adios_mim")
class AdiosMIM(_Adversarial):
    """Masked reconstruction with adversarially learned soft masks (see module docstring)."""

    def __init__(self, cfg: Config, model: nn.Module):
        self.cfg, self.model = cfg, model
        self.p = mask_objective_params("adios_mim", cfg.objective_params)
        self.opt = make_optimizer(cfg, model.parameters())
        self._init_masks(cfg, self.p)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "masks": self.masknet}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.opt, "masks": self.mask_opt}

    def loss(self, x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """MSE of the reconstructions of ``x`` hidden by each of ``masks`` (B,N',H,W), weighted
        as ``loss_weight`` says: by the mask (default), by the mask without its gradient, or
        uniformly over the image."""
        n = masks.shape[1]
        inputs = apply_masks(x, masks, "mean")
        with autocast(x.device, self.cfg):
            recon, _ = self.model(inputs)
        target = x.unsqueeze(1).expand(-1, n, -1, -1, -1).reshape_as(inputs)
        weight = masks.reshape(-1, 1, *x.shape[2:])
        if self.p["loss_weight"] == "detached":
            weight = weight.detach()
        elif self.p["loss_weight"] == "image":
            weight = torch.ones_like(weight)
        return masked_mse(recon.float(), target, weight, strict=False)

    def step(self, batch: Batch) -> dict[str, torch.Tensor]:
        x, g = batch.images, batch.generator
        # 1) encoder/decoder on detached masks
        with torch.no_grad():
            masks = self.masknet(x)
        chosen = self.select(masks, g)
        loss = self.loss(x, chosen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        # 2) mask network against the (updated, frozen) autoencoder, same mask choice
        with frozen(self.model):
            masks = self.masknet(x)
            chosen = self.reselect(masks)
            adv = self.loss(x, chosen)
            return self.mask_step(loss, masks, adv)


class Projector(nn.Sequential):
    """SimCLR head on a feature map: global average pool -> Linear -> BatchNorm -> ReLU -> Linear.

    Example:
        >>> p = Projector(64, hidden=32, out=16)
        >>> tuple(p(torch.rand(4, 64, 2, 2)).shape)
        (4, 16)
    """

    def __init__(self, channels: int, hidden: int = 512, out: int = 128):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, hidden), nn.BatchNorm1d(hidden),
                         nn.ReLU(inplace=True), nn.Linear(hidden, out))


def _latent_channels(model: nn.Module, image_size: int) -> int:
    m = getattr(model, "_orig_mod", model)
    return int(m.latent_shape(image_size)[0])


@OBJECTIVES.register("adios_simclr")
class AdiosSimCLR(_Adversarial):
    """ADIOS with the SimCLR loss on the paper's encoder (see module docstring)."""

    masked = True
    objective_name = "adios_simclr"

    def __init__(self, cfg: Config, model: nn.Module):
        self.cfg, self.model = cfg, model
        self.p = mask_objective_params(self.objective_name, cfg.objective_params)
        device = next(model.parameters()).device
        self.projector = Projector(_latent_channels(model, cfg.image_size), self.p["proj_hidden"],
                                   self.p["proj_dim"]).to(device)
        self.opt = make_optimizer(cfg, list(model.parameters()) + list(self.projector.parameters()))
        if self.masked:
            self._init_masks(cfg, self.p)

    def modules(self) -> dict[str, nn.Module]:
        out = {"model": self.model, "projector": self.projector}
        if self.masked:
            out["masks"] = self.masknet
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        out = {"model": self.opt}
        if self.masked:
            out["masks"] = self.mask_opt
        return out

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(x.device, self.cfg):
            z = self.model.encode(x)
        return self.projector(z.float())

    def views(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Two random-resized crops (with flip when the config asks) of the unaugmented images;
        with ``crop=False`` the whole image (scale and aspect ratio 1, as in ``train.augment_batch``)."""
        raw = batch.raw if batch.raw is not None else batch.images
        if self.cfg.crop:
            crop = dict(scale=tuple(self.cfg.crop_scale), fit=self.cfg.crop_fit)
        else:
            crop = dict(scale=(1.0, 1.0), ratio=(1.0, 1.0))
        both = random_resized_crop(torch.cat([raw, raw]), batch.generator, **crop, flip=self.cfg.flip)
        return both[: len(raw)], both[len(raw):]

    def loss(self, h1: torch.Tensor, v2: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        """Mean over masks of NT-Xent(h1, projection of v2 under each mask); the masked views are one batch."""
        t = self.p["temperature"]
        if masks is None:
            return nt_xent(h1, self.embed(v2), t)
        B, n = masks.shape[:2]
        h2 = self.embed(apply_masks(v2, masks, "zero")).view(B, n, -1)
        return torch.stack([nt_xent(h1, h2[:, k], t) for k in range(n)]).mean()

    def step(self, batch: Batch) -> dict[str, torch.Tensor]:
        v1, v2 = self.views(batch)
        g = batch.generator
        if not self.masked:
            loss = self.loss(self.embed(v1), v2, None)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            return {"loss": loss.detach()}
        with torch.no_grad():
            masks = self.masknet(v2)
        chosen = self.select(masks, g)
        loss = self.loss(self.embed(v1), v2, chosen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        with frozen(self.model), frozen(self.projector):
            with torch.no_grad():
                h1 = self.embed(v1)  # the unmasked view once, by the updated encoder
            masks = self.masknet(v2)
            chosen = self.reselect(masks)
            adv = self.loss(h1, v2, chosen)
            return self.mask_step(loss, masks, adv)



@OBJECTIVES.register("simclr")
class SimCLR(AdiosSimCLR):
    """SimCLR on the paper's encoder without masks: the baseline of ``adios_simclr``."""

    masked = False
    objective_name = "simclr"
