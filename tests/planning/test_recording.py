"""Tests of focusmim.planning.recording: a chapter's configs recorded without training anything."""
import pytest

from focusmim.config import make_config
from focusmim.planning.recording import PlannedRun, PlanningStore, PlanStop, chapter_configs


def test_a_planning_store_records_configs_and_its_runs_hold_nothing():
    store = PlanningStore()
    cfgs = [make_config("smoke", masker=m) for m in ("random_patches", "none")]
    runs = store.record(cfgs)
    assert store.planning and store.configs == cfgs
    assert isinstance(runs[0], PlannedRun) and runs[0].config is cfgs[0] and runs[0].dir.name == cfgs[0].key()
    with pytest.raises(PlanStop):
        runs[0].metrics


def test_a_chapters_configs_come_from_its_own_compute_function():
    from focusmim.book.notebook import setup

    nb = setup("01_masking_strategy", preset="smoke", plan=False)
    cfgs = chapter_configs("01_masking_strategy", nb)
    assert cfgs and {c.masker for c in cfgs} >= {"random_patches", "masked_periphery", "foveal", "none"}
