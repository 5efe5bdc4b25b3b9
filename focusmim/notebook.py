"""What every chapter notebook does first and last: resolve its parameters
against a preset, print its provenance, and store its tables.

    >>> from focusmim.notebook import setup
    >>> nb = setup("demo", preset="smoke", epochs=1)          # doctest: +SKIP
    >>> nb.base.epochs, nb.seeds, nb.probe_seeds                # doctest: +SKIP
    (1, (0,), (0, 1))

Tables are saved under ``results/<preset>/<name>.json``, so a smoke run (as CI
does) never overwrites the numbers of a real run.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

import focusmim
from focusmim.config import Config, make_config, resolve_device, resolve_preset
from focusmim.experiments import Table, results_dir, training_budget

__all__ = ["setup", "Notebook", "NOTEBOOK_DEFAULTS", "load_tables", "PRESET_RANK"]

# per-preset defaults of the notebook-level parameters (not part of a run's config).
# ``seeds`` are the pretraining seeds of the headline comparison (chapter 1's strategies);
# ``ablation_seeds`` those of sweeps and ablations, which multiply the number of runs.
NOTEBOOK_DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": dict(seeds=(0,), probe_seeds=(0, 1), ratios=(0.2, 0.5, 0.8), probe_epochs=(1, 2), ablation_seeds=(0,)),
    # cpu: three probe seeds and two snapshot epochs, since on 2 cores the probe (up to 1,000 epochs
    # with early stopping) costs about as much as the 6-epoch pretraining run itself
    "cpu": dict(seeds=(0, 1, 2), probe_seeds=(0, 1, 2), ratios=(0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9),
                probe_epochs=(3, 6), ablation_seeds=(0,)),
    "gpu": dict(seeds=(0, 1, 2), probe_seeds=(0, 1, 2, 3, 4), ratios=(0.2, 0.4, 0.6, 0.8, 0.9),
                probe_epochs=(2, 5, 10), ablation_seeds=(0,)),
    "paper": dict(seeds=(0,), probe_seeds=(0, 1, 2, 3, 4),
                  ratios=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), probe_epochs=(50, 100, 250, 500),
                  ablation_seeds=(0,)),
}
PRESET_RANK = {"smoke": 0, "cpu": 1, "gpu": 2, "paper": 3}  # larger budget wins in summaries


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
        p = self.provenance()
        print("Provenance: " + "; ".join(f"{k}: {v}" for k, v in p.items()))

    def save(self, table: Table, name: str | None = None) -> Path:
        """Store a table under ``results/<preset>/<notebook>[-name].json`` with provenance."""
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
        from focusmim.config import PRESETS

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
    Then the chapter's plan (:mod:`focusmim.plan`: runs, stored runs, data,
    device, estimated time) is printed, also to the terminal; ``dry_run=True``
    stops there (the notebook's later cells are skipped; outside a notebook,
    exit 0). ``plan=False`` skips the plan (for a notebook context without a chapter).
    """
    if not isinstance(dry_run, bool):
        raise ValueError(f"dry_run={dry_run!r} is not allowed; allowed: True, False")
    asked = preset
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
        from focusmim.plan import data_summary

        nb.extra["images_used"] = data_summary(base)["used"]
    nb.print_provenance()
    if plan or dry_run:
        from focusmim import chapters
        from focusmim.plan import announce, chapter_plan, stop_notebook

        if name in chapters.REGISTRY.names():
            announce(chapter_plan(name, nb, preset_note=_preset_note(asked, preset)).format())
        if dry_run:
            stop_notebook("dry run: plan printed, nothing trained; the remaining cells are skipped")
    return nb


def _preset_note(asked: str | None, preset: str) -> str:
    """Why this preset: said when it was chosen automatically."""
    import os

    if asked not in (None, "", "auto"):
        return ""
    if os.environ.get("FOCUSMIM_PRESET"):
        return ", from $FOCUSMIM_PRESET"
    return (", chosen automatically: a GPU is visible" if preset == "paper"
            else ", chosen automatically: no GPU visible; pass -p preset cpu|gpu|paper for real data")


def load_tables(name: str, root: str | Path | None = None) -> dict[str, Table]:
    """The stored table ``name`` of every preset that has one, largest budget first:
    preset -> Table (from ``root``, default :func:`~focusmim.experiments.results_dir`)."""
    out = {}
    root = Path(root) if root is not None else results_dir()
    for preset in sorted(PRESET_RANK, key=PRESET_RANK.get, reverse=True):
        p = root / preset / f"{name}.json"
        if p.exists():
            d = json.loads(p.read_text())
            out[preset] = Table(d["title"], d["rows"], d.get("meta", {}))
    return out
