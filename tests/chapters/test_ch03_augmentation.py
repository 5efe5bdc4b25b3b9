"""Tests for focusmim.chapters.ch03_augmentation: crop and fixed-mask conditions, reusing chapter 1's runs."""
from __future__ import annotations

from focusmim import chapters
from focusmim.chapters import ch03_augmentation as ch03

from tests.chapters.conftest import FEW3, tiny_notebook as _nb


def test_chapter3_conditions(store, res01):
    res = chapters.compute("03_augmentation", _nb("03_augmentation"), store=store)
    t = res["table"]
    assert [r["condition"] for r in t.rows] == FEW3
    assert t.row("random patches, no crop")["crop"] is False and t.row("random patches")["crop"] is True
    assert t.row("fixed random patches")["fixed"] is True and t.row("random patches")["fixed"] is False
    # crop-on runs are chapter 1's; fixed masks are a different run
    assert t.row("random patches")["run_keys"] == res01["table"].row("random patches")["run_keys"]
    assert t.row("fixed random patches")["run_keys"] != t.row("random patches")["run_keys"]
    assert res["crop"]["groups"] == ch03.CROP_GROUPS
    m, s = res["crop"]["series"]["no crop"]
    assert m[0] == t.row("random patches, no crop")["accuracy_mean"]
    assert m[1] is None  # not run in this subset
    assert res["fixed"]["series"]["crop"][0] == [t.row("random patches")["accuracy_mean"],
                                                 t.row("fixed random patches")["accuracy_mean"]]
