"""What every chapter notebook does first and last: resolve its parameters
against a preset, print its provenance, and store its tables.

    >>> from focusmim.book.notebook import setup
    >>> nb = setup("demo", preset="smoke", epochs=1)          # doctest: +SKIP
    >>> nb.base.epochs, nb.seeds, nb.probe_seeds                # doctest: +SKIP
    (1, (0,), (0, 1))

Tables are saved under ``<run store>/tables/<preset>/<name>.json`` (see
:func:`~focusmim.experiments.tables_dir`), never into the committed ``results/``:
the book's tables change only through ``python -m focusmim publish``.
"""
from __future__ import annotations

import ast
import os
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

import focusmim
from focusmim import chapters
from focusmim.experiments.captions import budget_caption, budget_note, shown_budget  # noqa: F401  (notebooks call them here)
from focusmim.config import Config, ConfigError, make_config, resolve_device, resolve_preset
from focusmim.experiments import Table, load_tables, training_budget  # noqa: F401  (load_tables: the notebooks' name)
from focusmim.planning.plan import chapter_plan, data_summary
from focusmim.config.presets import NOTEBOOK_DEFAULTS, PRESET_RANK, PRESETS
from focusmim.utils.progress import announce, stop_notebook

__all__ = ["setup", "Notebook", "NOTEBOOK_DEFAULTS", "load_tables", "PRESET_RANK", "check_parameters",
           "check_injected_parameters", "shown_budget", "budget_caption", "budget_note"]

@dataclass
class Notebook:
    """A chapter's resolved parameters and provenance."""

    name: str
    preset: str
    base: Config
    seeds: tuple
    probe_seeds: tuple
    extra: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def __getattr__(self, item: str) -> Any:
        extra = self.__dict__.get("extra", {})
        if item in extra:
            return extra[item]
        raise AttributeError(item)

    def provenance(self) -> dict:
        dev = resolve_device(self.base.device)
        used = self.extra.get("images_used") or {}  # the real counts (fewer when the data have fewer images)
        return {
            "notebook": self.name,
            "preset": self.preset,
            "dataset": self.base.dataset,
            "image_size": self.base.image_size,
            "n_unlabeled": used.get("unlabeled") or self.base.n_unlabeled or "all",
            "n_labeled": used.get("train") or self.base.n_labeled,
            "n_test": used.get("test") or self.base.n_test or "all",
            "epochs": self.base.epochs,
            "batch_size": self.base.batch_size,
            "width": self.base.width,
            "pretraining seeds": list(self.seeds),
            "probe seeds": list(self.probe_seeds),
            "executed on": torch.cuda.get_device_name() if dev == "cuda" else f"CPU ({torch.get_num_threads()} threads)",
            "focusmim": focusmim.__version__,
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }

    def print_provenance(self) -> None:
        """Print the provenance as wrapped lines (at most 88 characters: they fit the book's column)."""
        p = self.provenance()
        print(textwrap.fill("Provenance: " + "; ".join(f"{k}: {v}" for k, v in p.items()), width=88,
                            subsequent_indent="  ", break_on_hyphens=False))

    def save(self, table: Table, name: str | None = None) -> Path:
        """Store a table under ``<tables_dir>/<preset>/<notebook>[-name].json`` with provenance
        (the run store's ``tables/``; ``python -m focusmim publish`` copies it into the book's ``results/``)."""
        table.meta.update(self.provenance())
        # the budget behind the numbers is the training's, recorded by the runs themselves
        table.meta["wall_time_s"] = self.elapsed()
        table.meta.update(training_budget(table.rows))
        table.meta["notebook_seconds"] = self.elapsed()
        key = self.name if name is None else f"{self.name}-{name}"
        return table.save(f"{self.preset}/{key}")

    def shrink_for_smoke(self, budget: dict[str, Any], label: str | None = None) -> Config:
        """At the smoke preset only, apply a chapter's smaller ``budget`` (Config fields) to
        the fields the notebook left at the preset's value; printed, and kept in ``self.base``
        so the saved provenance is the budget actually used. Returns ``self.base``."""
        if self.preset == "smoke":
            change = {k: v for k, v in budget.items() if getattr(self.base, k) == PRESETS["smoke"].get(k)}
            if change:
                self.base = self.base.replace(**change)
                print(f"{label or self.name}: smoke budget {change}")
        return self.base

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def finish(self) -> None:
        print(f"{self.name}: notebook executed in {self.elapsed():.0f} s on {self.provenance()['executed on']} "
              f"({self.preset} preset, {self.base.dataset}, {self.base.epochs} epochs); the runs it shows record "
              f"where they were trained and for how long (tables' 'device' and 'wall_time_s')")


def setup(name: str, *, preset: str | None = None, seeds: Sequence[int] | None = None,
          probe_seeds: Sequence[int] | None = None, notebook_params: dict | None = None,
          dry_run: bool = False, plan: bool = True, **overrides: Any) -> Notebook:
    """Resolve a notebook's parameters: preset defaults, then explicit values.

    ``overrides`` are :class:`~focusmim.config.Config` fields (``None`` = take the
    preset's); ``notebook_params`` are the chapter's own (``None`` values take
    :data:`NOTEBOOK_DEFAULTS`). Everything is validated before any work starts.
    Then the chapter's plan (:mod:`focusmim.planning.plan`: runs, stored runs, data,
    device, estimated time) is printed, also to the terminal; ``dry_run=True``
    stops there (the notebook's later cells are skipped; outside a notebook,
    exit 0). ``plan=False`` skips the plan (for a notebook context without a chapter).
    """
    if not isinstance(dry_run, bool):
        raise ValueError(f"dry_run={dry_run!r} is not allowed; allowed: True, False")
    asked = preset
    check_injected_parameters()
    preset = resolve_preset(preset)
    base = make_config(preset, **overrides)
    defaults = NOTEBOOK_DEFAULTS[preset]
    extra = {k: v for k, v in defaults.items() if k not in ("seeds", "probe_seeds")}
    for k, v in (notebook_params or {}).items():
        if v is not None:
            extra[k] = v
        else:
            extra.setdefault(k, None)
    seeds = tuple(defaults["seeds"] if seeds is None else seeds)
    probe_seeds = tuple(defaults["probe_seeds"] if probe_seeds is None else probe_seeds)
    for nm, vals in (("seeds", seeds), ("probe_seeds", probe_seeds)):
        if not vals or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in vals):
            raise ValueError(f"{nm}={list(vals)!r} is not allowed; allowed: a non-empty list of whole numbers >= 0")
    nb = Notebook(name, preset, base, seeds, probe_seeds, extra)
    if base.dataset == "imagefolder":  # the header states the real image counts, not the preset's
        nb.extra["images_used"] = data_summary(base)["used"]
    nb.print_provenance()
    if plan or dry_run:
        if name in chapters.REGISTRY.names():
            announce(chapter_plan(name, nb, preset_note=preset_note(asked, preset)).format())
        if dry_run:
            stop_notebook("dry run: plan printed, nothing trained; the remaining cells are skipped")
    return nb


def assigned_names(source: str) -> list[str]:
    """The names a cell's top-level assignments bind, in order.

        >>> assigned_names("# Parameters\\nepochs = 3\\nseeds = [0, 1]\\n")
        ['epochs', 'seeds']
    """
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def check_parameters(given: Sequence[str], declared: Sequence[str]) -> None:
    """Raise :class:`~focusmim.config.ConfigError` when a papermill parameter is not one the
    notebook declares in its ``parameters`` cell.

        >>> check_parameters(["epochs"], ["preset", "epochs"])
        >>> check_parameters(["epoch"], ["preset", "epochs"])
        Traceback (most recent call last):
        ...
        focusmim.config.ConfigError: notebook parameter 'epoch' is not declared by this notebook; allowed: preset, epochs
    """
    unknown = [g for g in given if g not in declared]
    if unknown:
        raise ConfigError(f"notebook parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                          f"{'are' if len(unknown) > 1 else 'is'} not declared by this notebook; "
                          f"allowed: {', '.join(declared)}")


def check_injected_parameters(history: Sequence[str] | None = None) -> None:
    """Under papermill, check the injected parameters against the notebook's declared ones.

    papermill runs the cell it injects (``# Parameters`` then assignments) right after
    the cell tagged ``parameters``; both are in the kernel's input history (IPython's
    ``In``). Outside IPython, or without an injected cell, nothing is checked.
    """
    if history is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover
            return
        ip = get_ipython()
        if ip is None:
            return
        history = list(ip.user_ns.get("In", []))
    for i, cell in enumerate(history):
        if i > 0 and cell.startswith("# Parameters\n"):
            check_parameters(assigned_names(cell), assigned_names(history[i - 1]))


def preset_note(asked: str | None, preset: str) -> str:
    """Why this preset: said when it was chosen automatically."""
    if asked not in (None, "", "auto"):
        return ""
    if os.environ.get("FOCUSMIM_PRESET"):
        return ", from $FOCUSMIM_PRESET"
    return (", chosen automatically: a GPU is visible" if preset == "paper"
            else ", chosen automatically: no GPU visible; pass -p preset cpu|gpu|paper for real data")
