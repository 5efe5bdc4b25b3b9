"""Checks shared by the layer folders' ``test_init.py``: a folder's docstring is its map."""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def undocumented_modules(package: ModuleType) -> list[str]:
    """The modules and subpackages of ``package``'s folder that its docstring does not name
    (``:mod:`~focusmim.store.runs``` or ``focusmim.store.runs``).

        >>> import focusmim.store
        >>> undocumented_modules(focusmim.store)
        []
    """
    doc = package.__doc__ or ""
    return [m.name for m in pkgutil.iter_modules(package.__path__)
            if not m.name.startswith("_") and f"{package.__name__}.{m.name}" not in doc]


def reexports_are_the_modules_own(package: ModuleType) -> list[str]:
    """Names in ``package.__all__`` that are not the very object of the submodule that defines them."""
    bad = []
    for name in getattr(package, "__all__", []):
        obj = getattr(package, name)
        home = getattr(obj, "__module__", None)
        if home and home.startswith(package.__name__ + ".") and getattr(importlib.import_module(home), name) is not obj:
            bad.append(name)
    return bad
