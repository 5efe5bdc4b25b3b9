"""Shared helpers of the tests of focusmim.data: small image folders on disk."""
from __future__ import annotations

from pathlib import Path

from PIL import Image


def write_image(path: Path, size=(32, 32), mode="RGB", value=100, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = {"RGB": (value, 50, 200), "L": value, "RGBA": (value, 0, 0, 0), "P": value}[mode]
    Image.new(mode, size, color).save(path, fmt)
    return path


def make_tree(root: Path, classes=("a", "b", "c"), n_train=4, n_test=2) -> Path:
    for c, cls in enumerate(classes):
        for i in range(n_train):
            write_image(root / "train" / cls / f"{i}.png", value=20 * c + i)
        for i in range(n_test):
            write_image(root / "test" / cls / f"{i}.jpg", value=20 * c + i + 5)
    return root
