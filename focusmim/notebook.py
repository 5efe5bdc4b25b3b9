"""What every chapter notebook does first and last: resolve its parameters
against a preset, print its provenance, and store its tables.

    >>> from focusmim.notebook import setup
    >>> nb = setup("demo", preset="smoke", epochs=1)          # doctest: +SKIP
    >>> nb.base.epochs, nb.seeds, nb.probe_seeds                # doctest: +SKIP
    (1, (0,), (0, 1))

Tables are saved under ``<run store>/tables/<preset>/<name>.json`` (see
:func:`~focusmim.experiments.tables_dir`), never into the committed ``results/``:
the book's tables change only through ``python -m focusmim publish``.
"""
from __future__ import annotations

import json
import math
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

import focusmim
from focusmim.config import Config, ConfigError, make_config, resolve_device, resolve_preset
from focusmim.experiments import Table, results_dir, training_budget
from focusmim.presets import NOTEBOOK_DEFAULTS, PRESET_RANK, PRESETS

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
    Then the chapter's plan (:mod:`focusmim.plan`: runs, stored runs, data,
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


def assigned_names(source: str) -> list[str]:
    """The names a cell's top-level assignments bind, in order.

        >>> assigned_names("# Parameters\\nepochs = 3\\nseeds = [0, 1]\\n")
        ['epochs', 'seeds']
    """
    import ast

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
    """The published table ``name`` of every preset that has one, largest budget first:
    preset -> Table (from ``root``, default the book's :func:`~focusmim.experiments.results_dir`)."""
    out = {}
    root = Path(root) if root is not None else results_dir()
    for preset in sorted(PRESET_RANK, key=PRESET_RANK.get, reverse=True):
        p = root / preset / f"{name}.json"
        if p.exists():
            d = json.loads(p.read_text())
            out[preset] = Table(d["title"], d["rows"], d.get("meta", {}))
    return out


# ------------------------------------------------------------ generated budget words
_EXECUTING = ("device", "device_name", "wall_time_s", "seconds", "precision")


def shown_budget(shown: Any) -> dict:
    """The budget behind what a table or figure shows, read from what its runs recorded.

    ``shown`` is a :class:`~focusmim.experiments.Table` or its ``meta``. A table's rows
    (one per condition, from :func:`~focusmim.experiments.summarise`) carry each run's
    ``device``, ``wall_time_s``, ``epochs`` and ``pretrain_seeds``; these replace the
    meta's fields, which describe the machine that executed the notebook (the runs may
    have been trained elsewhere and read back from the store). Rows listing the same
    runs (one per probed epoch) count once.

    Example:
        >>> from focusmim.experiments import Table
        >>> t = Table("t", [dict(run_keys=["a"], device="NVIDIA H100", wall_time_s=60.0, epochs=10, pretrain_seeds=[0]),
        ...                 dict(run_keys=["b"], device="NVIDIA H100", wall_time_s=60.0, epochs=10, pretrain_seeds=[1])],
        ...           meta={"dataset": "cifar10", "device_name": "CPU", "seeds": [0, 1, 2]})
        >>> b = shown_budget(t)
        >>> b["device_name"], b["wall_time_s"], b["epochs"], b["seeds"]
        ('NVIDIA H100', 120.0, 10, [0, 1])
    """
    if not isinstance(shown, Mapping) and not hasattr(shown, "meta"):
        raise ValueError(f"shown={type(shown).__name__} is not allowed; allowed: a Table or a mapping (its meta)")
    meta = dict(getattr(shown, "meta", shown) or {})
    rows, seen = [], set()
    for r in getattr(shown, "rows", None) or []:
        key = tuple(r.get("run_keys") or ()) or id(r)
        if key not in seen:
            seen.add(key)
            rows.append(r)
    trained = [r for r in rows if r.get("device")]
    if trained:
        for k in _EXECUTING:
            meta.pop(k, None)
        meta.update(training_budget(trained))
    epochs = sorted({int(e) for r in rows if r.get("epochs") is not None
                     for e in (r["epochs"] if isinstance(r["epochs"], (list, tuple)) else [r["epochs"]])
                     if int(e) > 0})  # 0: a baseline without pretraining (raw pixels)
    if epochs:
        meta["epochs"] = epochs[0] if len(epochs) == 1 else epochs
    seeds = sorted({int(s) for r in rows for s in (r.get("pretrain_seeds") or ())})
    if seeds:
        meta.pop("pretraining seeds", None)
        meta["seeds"] = seeds
    return meta


def budget_caption(shown: Any) -> str:
    """One line saying what the shown numbers cost, generated from :func:`shown_budget`:
    dataset and size, pretraining images, epochs, seeds, where the runs were trained,
    their wall time.

    Example:
        >>> budget_caption({"dataset": "stl10", "image_size": 96, "n_unlabeled": None, "epochs": 500,
        ...                 "seeds": [0], "device_name": "NVIDIA H100", "wall_time_s": 7200})
        'stl10 96 px, all unlabeled images, 500 epochs, pretraining seeds [0], trained on NVIDIA H100, 2.0 h'
    """
    meta = shown_budget(shown)
    parts = []
    if meta.get("dataset"):
        size = meta.get("image_size")
        parts.append(f"{meta['dataset']}{f' {size} px' if size else ''}")
    if "n_unlabeled" in meta:
        n = meta["n_unlabeled"]
        parts.append("all unlabeled images" if n in (None, "", "all") else f"{n:,} unlabeled images"
                     if isinstance(n, int) else f"{n} unlabeled images")
    ep = meta.get("epochs")
    if ep is not None:
        parts.append(f"{ep[0]}-{ep[-1]} epochs" if isinstance(ep, list) else f"{ep} epochs")
    seeds = meta.get("seeds", meta.get("pretraining seeds"))
    if seeds is not None:
        parts.append(f"pretraining seeds {list(seeds)}")
    probe = meta.get("probe_seeds", meta.get("probe seeds"))
    if probe is not None:
        parts.append(f"probe seeds {list(probe)}")
    dev = meta.get("device_name") or meta.get("device")
    if dev:
        parts.append(f"trained on {dev}")
    secs = meta.get("wall_time_s", meta.get("seconds"))
    if secs is not None and not (isinstance(secs, float) and math.isnan(secs)):
        secs = float(secs)
        parts.append(f"{secs / 3600:.1f} h" if secs >= 3600 else f"{secs / 60:.1f} min" if secs >= 60
                     else f"{secs:.0f} s")
    return ", ".join(parts)


def budget_note(shown: Any, *, column: str = "accuracy_mean", chance: float = 0.1, margin: float = 0.05) -> str:
    """A sentence for beside a table of probe accuracies, generated from its numbers and
    budget (never written by hand): the budget, the accuracies' range, and whether they
    are near ``chance`` (within ``margin``), so that the checks that follow say little.

    Example:
        >>> from focusmim.experiments import Table
        >>> t = Table("t", [dict(accuracy_mean=0.12), dict(accuracy_mean=0.13)], meta={"dataset": "synthetic", "epochs": 2})
        >>> budget_note(t)
        'These numbers come from synthetic, 2 epochs. Probe accuracies 12.0-13.0 % against 10 % chance: near chance, so the checks below say little about the paper.'
    """
    vals = [float(r[column]) for r in getattr(shown, "rows", []) if r.get(column) is not None
            and not (isinstance(r[column], float) and math.isnan(r[column]))]
    text = f"These numbers come from {budget_caption(shown)}."
    if vals:
        lo, hi = min(vals), max(vals)
        near = sum(v < chance + margin for v in vals)
        verdict = ("near chance, so the checks below say little about the paper" if near == len(vals) else
                   f"{near} of {len(vals)} near chance (within {100 * margin:.0f} points), so those say little"
                   if near else
                   "above chance, though far below the paper's budget (500 epochs on 100,000 STL-10 images at 96 px)")
        text += f" Probe accuracies {100 * lo:.1f}-{100 * hi:.1f} % against {100 * chance:.0f} % chance: {verdict}."
    return text
