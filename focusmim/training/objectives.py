"""Training objectives: what one optimisation step does with one batch.

The pretraining loop (:mod:`focusmim.training.train`) is the same for every objective; an
objective owns its extra modules and optimisers and performs one step. ``mim`` is
the paper's masked reconstruction; the ADIOS objectives register themselves in
:mod:`focusmim.training.adios`.

An objective is built as ``OBJECTIVES.build(cfg.objective, cfg=cfg, model=model)``
and provides:

- ``modules()``: name -> nn.Module to checkpoint (always contains ``"model"``)
- ``optimizers()``: name -> torch optimiser (checkpointed too)
- ``step(batch) -> dict[str, Tensor]``: one update; scalar detached losses, ``"loss"`` first
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from focusmim import masking
from focusmim.config import Config
from focusmim.training.losses import masked_mse
from focusmim.config.schemas import OBJECTIVES

__all__ = ["OBJECTIVES", "Batch", "MIM", "make_optimizer"]



@dataclass
class Batch:
    """One augmented training batch on the device."""

    images: torch.Tensor  # float (B,3,H,W) in [0,1], augmented: the reconstruction target
    foreground: torch.Tensor | None  # float (B,1,H,W) or None, augmented identically
    index: torch.Tensor  # int64 (B,) dataset indices
    generator: torch.Generator  # the run's generator for this epoch
    raw: torch.Tensor | None = None  # float (B,3,H,W): the same images before augmentation (siamese views)
    raw_foreground: torch.Tensor | None = None  # float (B,1,H,W) or None, before augmentation
    # under torchrun: this rank's rows of the global batch (everything above holds the whole
    # global batch, so masks and crops are those of the single-process run); None: all rows
    rows: slice | None = None


def make_optimizer(cfg: Config, params, lr: float | None = None) -> torch.optim.Optimizer:
    """Adam (the paper's autoencoder) or AdamW (ConvNeXt recipe) with the config's weight decay."""
    lr = cfg.resolved_lr() if lr is None else lr
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    params = list(params)
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    # on the GPU one fused kernel updates every parameter (fewer launches for this small model); on the CPU
    # the multi-tensor ("foreach") update: the same numbers bit for bit as the per-parameter loop torch uses
    # by default there (tested), in about a fifth of the operator dispatches (the paper's autoencoder:
    # 842 -> 180 a step; benchmarks/bench_step_dispatch.py). The CPU's fused kernel rounds differently, so
    # stored CPU runs would no longer be reproduced exactly: not used.
    if bool(tensors) and all(t.is_cuda for t in tensors):
        return cls(params, lr=lr, weight_decay=cfg.weight_decay, fused=True)
    return cls(params, lr=lr, weight_decay=cfg.weight_decay, foreach=True)


@OBJECTIVES.register("mim")
class MIM:
    """Masked image modeling: reconstruct the augmented image from its masked
    version; the loss counts where the masker says (times the foreground map
    when the config asks for one)."""

    def __init__(self, cfg: Config, model: nn.Module):
        self.cfg = cfg
        self.model = model
        self.masker = masking.build(cfg.masker, **cfg.masker_kwargs())
        self.opt = make_optimizer(cfg, model.parameters())

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.opt}

    def step(self, batch: Batch) -> dict[str, torch.Tensor]:
        out = self.masker(batch.images, batch.generator, index=batch.index, foreground=batch.foreground)
        weight = out.weight
        if self.cfg.foreground != "none" and self.cfg.foreground_loss and batch.foreground is not None:
            weight = masking.apply_foreground(weight, batch.foreground)
        inputs, target = out.inputs, batch.images
        if batch.rows is not None:  # data parallel: this rank's rows, normalised by the whole batch's weight
            return self._step_rows(inputs[batch.rows], target[batch.rows], weight, batch.rows)
        with autocast(batch.images.device, self.cfg):
            recon, _ = self.model(inputs)
        # the empty-region check reads a number back from the device; on a GPU that
        # sync each step stalls the pipeline, so it is done on the CPU only
        loss = masked_mse(recon.float(), target, weight, strict=batch.images.device.type == "cpu")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.detach()}

    def _step_rows(self, inputs: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                   rows: slice) -> dict[str, torch.Tensor]:
        """One rank's part of a data-parallel step: the loss of its rows divided by the
        global batch's normaliser (so the ranks' losses and gradients sum to the global
        batch's; the gradients are summed by the optimiser's pre-step hook that
        :func:`focusmim.training.train.pretrain` installs)."""
        w = weight.float()
        total = (w.sum() * (target.shape[1] if w.shape[1] == 1 else 1)).clamp_min(1e-8)
        self.opt.zero_grad(set_to_none=True)
        if len(target):
            with autocast(target.device, self.cfg):
                recon, _ = self.model(inputs)
            loss = ((recon.float() - target.float()).square() * w[rows]).sum() / total
            loss.backward()
        else:  # fewer rows than ranks in the last batch: nothing to add
            loss = torch.zeros((), device=target.device)
        self.opt.step()
        return {"loss": loss.detach()}


def uses_bf16(device: torch.device, cfg: Config) -> bool:
    """Whether training runs under bf16 autocast: on CUDA when ``cfg.amp``; on the CPU only
    when ``cfg.cpu_amp`` too (CPU runs stay float32 by default).

        >>> from focusmim.config import make_config
        >>> cfg = make_config("smoke")
        >>> uses_bf16(torch.device("cpu"), cfg), uses_bf16(torch.device("cpu"), cfg.replace(cpu_amp=True))
        (False, True)
    """
    return bool(cfg.amp) and (device.type == "cuda" or (device.type == "cpu" and bool(cfg.cpu_amp)))


def autocast(device: torch.device, cfg: Config):
    """bf16 autocast where :func:`uses_bf16` says so, else a disabled context."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=uses_bf16(device, cfg))


def uses_channels_last(device: torch.device, cfg: Config) -> bool:
    """Whether the model runs ``channels_last``: on CUDA always; on the CPU with bf16 autocast
    (``cfg.cpu_amp``), where it doubled the paper's autoencoder's training speed on a 2-core
    AMD EPYC (105-120 against 52-65 img/s at 96 px, batch 32); fp32 CPU runs gain nothing from
    it and keep the default layout.

        >>> from focusmim.config import make_config
        >>> cfg = make_config("smoke")
        >>> uses_channels_last(torch.device("cpu"), cfg), uses_channels_last(torch.device("cpu"), cfg.replace(cpu_amp=True))
        (False, True)
    """
    return device.type == "cuda" or uses_bf16(device, cfg)

