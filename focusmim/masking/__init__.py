"""Maskers: every masking strategy as one batched, seeded, on-device operation.

``build(name, **params)`` returns a masker; ``masker(x, generator)`` returns a
:class:`MaskOutput` with the masked inputs and the per-pixel loss weight.

Example:
    >>> import torch
    >>> from focusmim import masking
    >>> masking.available()[:3]
    ['blurry_patches', 'blurry_periphery', 'central']
    >>> m = masking.build("random_patches", ratio=0.6)
    >>> out = m(torch.rand(8, 3, 96, 96), torch.Generator().manual_seed(0))
    >>> tuple(out.inputs.shape), tuple(out.weight.shape), out.visible.dtype
    ((8, 3, 96, 96), (8, 1, 96, 96), torch.bool)
"""
import inspect
from typing import Any

from focusmim.config.schemas import MASKERS

REGISTRY = MASKERS  # names and parameters are declared in focusmim.config.schemas
register = REGISTRY.register
available = REGISTRY.names


def build(name: str, **params: Any):
    """Build the masker ``name`` with keyword ``params``.

    Unknown names and unknown parameter names raise ``ValueError`` listing what is allowed.
    """
    factory = REGISTRY.get(name)
    sig = inspect.signature(factory)
    allowed = [p for p in sig.parameters if p != "self"]
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [k for k in params if k not in allowed]
    if unknown and not has_var_kw:
        raise ValueError(
            f"{', '.join(unknown)} is not a parameter of masker {name!r}; allowed: {', '.join(allowed) or 'none'}"
        )
    return factory(**params)


# the strategies register themselves (grid: the ConvNeXt periphery, learned: ADIOS masks)
from focusmim.masking import discs, foveal, grid, learned, patches  # noqa: E402,F401
from focusmim.masking.base import Masker, MaskOutput, apply_foreground  # noqa: E402

__all__ = ["REGISTRY", "register", "build", "available", "MaskOutput", "Masker", "apply_foreground"]
