"""Helpers of the experiments tests: tables of the test's own, and a folder's files with their sizes and times."""
from __future__ import annotations

from pathlib import Path


def _own_tables(monkeypatch, tmp_path):
    """Empty saved and published tables (conftest's folders are shared by the whole session)."""
    monkeypatch.setenv("FOCUSMIM_TABLES", str(tmp_path / "tables"))
    monkeypatch.setenv("FOCUSMIM_RESULTS", str(tmp_path / "results"))


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
