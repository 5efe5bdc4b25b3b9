"""The experiments behind each chapter of the book, one module per chapter.

A chapter module registers ``compute(nb) -> dict`` under the notebook's name. It
trains (or reuses) every run the chapter needs, probes them and evaluates them,
caching every number that needs a model in the run store, and returns tables
and whatever else the chapter's figures need. The notebook calls it and plots;
``python -m focusmim precompute`` calls the same functions on a GPU machine so the
notebooks can later be executed anywhere from the stored runs.

    >>> from focusmim import chapters
    >>> sorted(chapters.REGISTRY.names())[:1]      # doctest: +SKIP
    ['01_masking_strategy']
"""
from __future__ import annotations

import importlib
import pkgutil

from focusmim.config.registry import Registry

REGISTRY = Registry("chapter")
register = REGISTRY.register

__all__ = ["REGISTRY", "register", "compute"]


def compute(name: str, nb, **kwargs) -> dict:
    """Run chapter ``name``'s experiments for the notebook context ``nb``."""
    return REGISTRY.build(name, nb=nb, **kwargs)


def _import_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


_import_all()
