"""Presets and budgets have one home; every preset builds a valid config and the budgets grow with it."""
import pytest

from focusmim.config import presets
from focusmim.config import Config, make_config


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_is_valid_config_fields(name):
    values = {k: v for k, v in presets.PRESETS[name].items() if k != "dataset"}
    Config(**values).validate()  # no data needed: the dataset is synthetic here
    assert set(presets.NOTEBOOK_DEFAULTS[name]) >= {"seeds", "probe_seeds", "ratios", "probe_epochs"}
    for chapter in presets.CHAPTER_DEFAULTS.values():
        assert name in chapter


def test_budgets_grow_with_the_preset():
    order = sorted(presets.PRESET_RANK, key=presets.PRESET_RANK.get)
    assert order == list(presets.PRESETS)
    epochs = [presets.PRESETS[p]["epochs"] for p in order]
    assert epochs == sorted(epochs)


def test_smoke_budgets_are_config_fields_and_apply_at_smoke_only():
    for budget in presets.SMOKE_BUDGETS.values():
        make_config("smoke", **budget)
    from focusmim.book.notebook import Notebook

    nb = Notebook("06_architectures", "smoke", make_config("smoke"), (0,), (0,))
    assert nb.shrink_for_smoke(presets.SMOKE_BUDGETS["06_architectures"]).width == 0.25


def test_the_old_names_read_the_one_home():
    import focusmim.chapters.ch06_architectures as ch06
    import focusmim.chapters.ch07_learned_masks as ch07
    import focusmim.config as config
    import focusmim.book.notebook as notebook

    assert config.PRESETS is presets.PRESETS and notebook.NOTEBOOK_DEFAULTS is presets.NOTEBOOK_DEFAULTS
    assert ch07.CHAPTER_DEFAULTS is presets.CHAPTER_DEFAULTS["07_learned_masks"]
    assert ch06.SMOKE_BUDGET is presets.SMOKE_BUDGETS["06_architectures"]
    assert ch06.LR_DEFAULTS["paper"] == presets.LR_GRID
