"""Models by name: ``focusmim.models.build(name, **kwargs)``."""
from focusmim.registry import Registry

REGISTRY = Registry("model")
register = REGISTRY.register
build = REGISTRY.build
available = REGISTRY.names
