"""Shared helpers and fixtures of the tests of focusmim.chapters: a notebook setup at a tiny budget, and chapter 1's
runs on a few conditions, which chapters 2 and 3 reuse (package-scoped: trained once for all three test files)."""
from __future__ import annotations

import pytest

from focusmim import chapters
from focusmim.chapters import ch01_masking_strategy as ch01
from focusmim.chapters import ch02_decorrelation as ch02
from focusmim.chapters import ch03_augmentation as ch03
from focusmim.book.notebook import setup
from focusmim.store.runs import RunStore

TINY = dict(epochs=1, n_unlabeled=32, n_labeled=40, n_test=32, batch_size=32, width=0.25)


def tiny_notebook(name, *, epochs=TINY["epochs"], **params):
    """A chapter's notebook setup at the smoke preset with :data:`TINY`'s budget (``epochs`` overrides its epochs)."""
    return setup(name, preset="smoke", seeds=(0,), probe_seeds=(0,), notebook_params=params, **dict(TINY, epochs=epochs))


FULL01, FULL03 = dict(ch01.STRATEGIES), dict(ch03.CONDITIONS)  # before the fixture below patches them
# a subset of each chapter's conditions keeps the tests fast; the full lists are checked by name
FEW = ["random patches", "masked periphery", "plain autoencoder"]
FEW3 = ["random patches", "random patches, no crop", "masked periphery", "fixed random patches"]


@pytest.fixture(scope="package")
def few_conditions():
    """Chapters 1-3 run only FEW (FEW3 for chapter 3) while the chapter tests run."""
    with pytest.MonkeyPatch.context() as mp:
        few = {k: ch01.STRATEGIES[k] for k in FEW}
        mp.setattr(ch01, "STRATEGIES", few)
        mp.setattr(ch02, "STRATEGIES", few)
        mp.setattr(ch03, "CONDITIONS", {k: ch03.CONDITIONS[k] for k in FEW3})
        yield


@pytest.fixture(scope="package")
def store(tmp_path_factory):
    return RunStore(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="package")
def res01(few_conditions, store):
    return chapters.compute("01_masking_strategy", tiny_notebook("01_masking_strategy", ratios=(0.8,)), store=store)
