"""Models by name: ``focusmim.models.build(name, **kwargs)``.

Registered names: ``autoencoder`` (the paper's residual conv autoencoder),
``convnext_fcmae`` (ConvNeXt-V2 pico encoder + one-block FCMAE-style decoder)
and ``adios_unet`` (the ADIOS mask network).

Example:
    >>> import focusmim.models as models
    >>> models.available()
    ['adios_unet', 'autoencoder', 'convnext_fcmae']
    >>> model = models.build("autoencoder", width=0.5)
    >>> tuple(model.latent_shape(32))
    (64, 4, 4)
"""
from __future__ import annotations

import torch

from focusmim.config.schemas import BACKBONES, MODELS

from .common import size_pair

REGISTRY = MODELS  # names and parameters are declared in focusmim.config.schemas
register = REGISTRY.register
build = REGISTRY.build
available = REGISTRY.names

__all__ = ["REGISTRY", "register", "build", "available", "build_for_config", "flops", "count_parameters", "size_pair"]



def build_for_config(cfg) -> torch.nn.Module:
    """The pretraining model a :class:`focusmim.config.Config` names (``cfg.model``, ``cfg.width``).

    Only reconstruction backbones qualify; ``adios_unet`` is a mask network
    and is built by the ADIOS objective itself.

    Example:
        >>> from types import SimpleNamespace   # any object with .model and .width
        >>> m = build_for_config(SimpleNamespace(model="autoencoder", width=0.5))
        >>> m.latent_shape(32)
        (64, 4, 4)
    """
    name = getattr(cfg, "model", None)
    if name not in BACKBONES:
        raise ValueError(f"model={name!r} is not allowed as a pretraining model; allowed: {', '.join(BACKBONES)}")
    return build(name, width=cfg.width)


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with ``requires_grad``).

    Example:
        >>> count_parameters(torch.nn.Linear(3, 2))
        8
    """
    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"module={type(module).__name__} is not allowed; allowed: a torch.nn.Module")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def flops(model: torch.nn.Module, image_size: int | tuple[int, int] = 96, *, part: str = "forward",
          batch_size: int = 1) -> int:
    """FLOPs per image of one forward pass, counted by ``torch.utils.flop_counter``.

    Convention: the counter reports 2 FLOPs per multiply-accumulate of matmuls
    and convolutions (FLOPs = 2 * MACs) and ignores biases, activations,
    additions of skips and the sigmoid (they are a fraction of a percent here).

    Args:
        model: a module whose forward takes ``(B, 3, H, W)``.
        image_size: side (int) or ``(H, W)``.
        part: ``"forward"`` (the whole model), ``"encoder"`` (``model.encode``)
            or ``"forward_backward"`` (forward plus backward of ``sum(recon)``).
        batch_size: images in the probe batch; the result is divided by it.

    Example:
        >>> from focusmim.models import build, flops
        >>> round(flops(build("autoencoder"), 96) / 1e9, 3)
        1.336
    """
    from torch.utils.flop_counter import FlopCounterMode

    if part not in ("forward", "encoder", "forward_backward"):
        raise ValueError(f"part={part!r} is not allowed; allowed: 'forward', 'encoder', 'forward_backward'")
    h, w = size_pair(image_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is not allowed; allowed: a whole number >= 1")
    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    x = torch.rand(batch_size, 3, int(h), int(w), device=device)
    was_training = model.training
    model.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            if part == "encoder":
                with torch.no_grad():
                    model.encode(x)
            elif part == "forward":
                with torch.no_grad():
                    model(x)
            else:
                out = model(x)
                out = out[0] if isinstance(out, (tuple, list)) else out
                out.float().sum().backward()
    finally:
        model.train(was_training)
        if part == "forward_backward":
            model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops() // batch_size)


# Submodules register their factories on import.
from focusmim.models import adios_unet, autoencoder, convnext  # noqa: E402,F401
