"""The tests mirror the package: every module of focusmim has its own test file (ARCHITECTURE.md, "Tests")."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def mirrored_test_file(module: Path) -> Path:
    """``focusmim/a/b.py`` -> ``tests/a/test_b.py``; an ``__init__.py`` -> ``test_init.py``, ``__main__.py`` ->
    ``test_main.py``.

    Example:
        >>> mirrored_test_file(Path("focusmim/masking/discs.py")).as_posix()
        'tests/masking/test_discs.py'
        >>> mirrored_test_file(Path("focusmim/__init__.py")).as_posix()
        'tests/test_init.py'
    """
    rel = module.relative_to("focusmim")
    return Path("tests", *rel.parts[:-1], f"test_{rel.stem.strip('_')}.py")


def test_every_module_has_its_own_test_file():
    modules = sorted(p.relative_to(ROOT) for p in (ROOT / "focusmim").rglob("*.py") if "__pycache__" not in p.parts)
    assert len(modules) > 50
    missing = [f"{m} -> {mirrored_test_file(m)}" for m in modules if not (ROOT / mirrored_test_file(m)).is_file()]
    assert missing == []


def test_every_test_folder_is_a_package():
    """Without ``__init__.py`` two folders' ``test_base.py`` would clash under pytest's default import mode."""
    folders = [p for p in (ROOT / "tests").rglob("*") if p.is_dir() and "__pycache__" not in p.parts]
    assert folders and all((f / "__init__.py").is_file() for f in folders + [ROOT / "tests"])
