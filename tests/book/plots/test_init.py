"""Tests for focusmim.book.plots (the package): every figure module imports and names what it exports."""
from __future__ import annotations

import importlib
import pkgutil

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from focusmim.book import plots  # noqa: E402


def test_every_module_imports_and_exports_existing_names():
    names = [m.name for m in pkgutil.iter_modules(plots.__path__)]
    assert {"common", "masking", "objects", "learned"} <= set(names)
    for name in names:
        mod = importlib.import_module(f"focusmim.book.plots.{name}")
        assert mod.__all__ and all(callable(getattr(mod, n)) or n.isupper() for n in mod.__all__), name


def test_the_package_exposes_common_and_masking():
    assert plots.__all__ == ["common", "masking"]
    assert plots.common is importlib.import_module("focusmim.book.plots.common")
    assert isinstance(plots.common.bar_chart(["a", "b"], [0.5, 0.25]), Figure)
