"""Tests for focusmim.book.widgets (the package): every explorer module imports and names what it exports."""
from __future__ import annotations

import importlib
import pkgutil

from focusmim.book import widgets


def test_every_module_imports_and_exports_callables():
    names = [m.name for m in pkgutil.iter_modules(widgets.__path__)]
    assert set(names) == {"covert", "masking", "static"}
    for name in names:
        mod = importlib.import_module(f"focusmim.book.widgets.{name}")
        exported = getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_") and callable(vars(mod)[n])])
        assert exported and all(hasattr(mod, n) for n in exported), name
    assert widgets.__all__ == ["masking", "static"] and widgets.static is importlib.import_module("focusmim.book.widgets.static")
