"""Maskers: every masking strategy as one batched, seeded, on-device operation.

``build(name, **params)`` returns a masker; ``masker(x, generator)`` returns a
:class:`MaskOutput` with the masked inputs and the per-pixel loss weight.
"""
from focusmim.registry import Registry

REGISTRY = Registry("masker")
register = REGISTRY.register
build = REGISTRY.build
available = REGISTRY.names
