"""A chapter's configs without training anything: its own compute function runs against a store that records
the configs it asks for (:class:`PlanningStore`), so a plan cannot drift from what the chapter trains.

Example:
    >>> from focusmim.config import make_config
    >>> store = PlanningStore()
    >>> [r.config.masker for r in store.record([make_config("smoke")])], len(store.configs)
    (['random_patches'], 1)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from focusmim import chapters
from focusmim.config import Config
from focusmim.store.runs import RunStore

__all__ = ["PlanStop", "PlannedRun", "PlanningStore", "chapter_configs"]


class PlanStop(Exception):
    """Raised when planning code asks a planned (untrained) run for results: the
    configs recorded so far are the plan."""


class PlannedRun:
    """Stands for a run while planning: its config and folder, nothing trained.
    Asking it for anything else (metrics, checkpoints, evaluations) raises :class:`PlanStop`."""

    def __init__(self, directory: Path, config: Config):
        self.dir, self.config = directory, config

    def __getattr__(self, item: str) -> Any:
        raise PlanStop(item)


class PlanningStore(RunStore):
    """A run store that records the configs a job would train instead of training them.
    :func:`focusmim.experiments.train_conditions` and ``compare`` check ``store.planning``."""

    planning = True

    def __init__(self, root=None):
        super().__init__(root)
        self.configs: list[Config] = []

    def record(self, cfgs: Sequence[Config]) -> list[PlannedRun]:
        self.configs += list(cfgs)
        return [PlannedRun(self.path(c), c) for c in cfgs]


def chapter_configs(name: str, nb) -> list[Config]:
    """Every config chapter ``name``'s compute function would train for the notebook
    context ``nb`` (run on a copy of ``nb`` against a :class:`PlanningStore`)."""
    store = PlanningStore()
    copy = dataclasses.replace(nb, extra=dict(nb.extra))
    try:
        chapters.compute(name, copy, store=store, progress=False)
    except PlanStop:
        pass
    return store.configs
