"""Datasets by name: each becomes a uint8 image tensor, labels and (when known)
foreground maps, cached on disk after the first decode."""
from focusmim.registry import Registry

REGISTRY = Registry("dataset")
register = REGISTRY.register
