"""The paper's learning-rate procedure, at any budget: select each strategy's rate, then train at it.

The paper chose each major strategy's Adam learning rate from {5e-5, 1e-4, 5e-4} at its own budget
(1e-4 won for the masked periphery, 5e-4 for the others) and kept the parent's rate when blur was added.
Keeping the *outcome* of that selection at a budget ten or a hundred times smaller is not the procedure;
this module repeats the procedure at the budget at hand:

1. every selected strategy is trained at every candidate rate with the first pretraining seed;
2. each run is probed (the paper's linear probe) and the rate with the highest **validation** accuracy
   (mean over probe seeds; the probe's own 1,000-image validation split, never the test split) wins;
3. the blurred variants take their parent's winner (:data:`SELECTION_PARENT`), as the paper did;
4. the remaining pretraining seeds are trained at the selected rates.

A run at the rate the paper chose for its masker is built with ``lr=None`` (the paper's rule), so it is the
very run the fixed-rate chapter trains: the two variants share it instead of training it twice.

Example (pure parts; :func:`select_learning_rates` trains):
    >>> pick_rate({5e-5: 0.31, 1e-4: 0.35, 5e-4: 0.34})
    0.0001
    >>> sorted(selection_conditions({"random patches": {"masker": "random_patches"}}, (1e-4, 5e-4)))
    ['random patches, lr 0.0001', 'random patches, lr 0.0005']
    >>> selection_conditions({"random patches": {"masker": "random_patches"}}, (5e-4,))["random patches, lr 0.0005"]
    {'masker': 'random_patches', 'lr': None}
"""
from __future__ import annotations

import statistics
from typing import Any, Mapping, Sequence

from focusmim.config import PAPER_LR, DEFAULT_LR, Config
from focusmim.experiments import Table, compare, train_and_probe
from focusmim.config.presets import LR_CANDIDATES
from focusmim.evaluation.probe import _cache_name, evaluate
from focusmim.store.runs import RunStore

__all__ = ["LR_CANDIDATES", "SELECTION_PARENT", "CRITERION", "paper_rate", "validation_accuracy", "pick_rate",
           "selection_conditions", "select_learning_rates", "selected_rates", "selected_conditions", "weightless_stale",
           "chapter_variants"]

# blurred variants keep the rate selected for the strategy they blur (the paper's procedure)
SELECTION_PARENT = {"blurry random patches": "random patches", "blurry periphery": "masked periphery"}
CRITERION = "linear probe's validation accuracy (first pretraining seed, mean over probe seeds)"


def paper_rate(masker: str) -> float:
    """The learning rate the paper selected for ``masker`` at its budget.

        >>> paper_rate("masked_periphery"), paper_rate("random_patches")
        (0.0001, 0.0005)
    """
    return PAPER_LR.get(masker, DEFAULT_LR)


def _check_rates(rates: Sequence[float]) -> tuple[float, ...]:
    rates = tuple(rates)
    if not rates or any(isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0 for r in rates):
        raise ValueError(f"rates={list(rates)!r} is not allowed; allowed: a non-empty list of positive numbers "
                         f"(the paper's: {list(LR_CANDIDATES)})")
    return tuple(float(r) for r in rates)


def validation_accuracy(result: Mapping[str, Any]) -> float:
    """Mean validation accuracy over the probe seeds of a probe result (:func:`focusmim.evaluation.probe.evaluate`).

    Probe results cached before the probe recorded it have none: that is an error naming the fix, never a
    silent fallback to the test accuracy."""
    per = result.get("per_seed") or []
    vals = [p.get("val_accuracy") for p in per]
    if not vals or any(v is None for v in vals):
        raise ValueError("this probe result has no validation accuracy (cached before the probe recorded it); "
                         "re-probe the run (delete its probe-*.json) to select a learning rate")
    return float(statistics.fmean(vals))


def pick_rate(scores: Mapping[float, float]) -> float:
    """The rate with the highest validation score; a tie goes to the smaller rate."""
    if not scores:
        raise ValueError("scores is empty; allowed: rate -> validation accuracy for at least one rate")
    best = max(scores.values())
    return min(r for r, v in scores.items() if v == best)


def selection_conditions(strategies: Mapping[str, Mapping[str, Any]], rates: Sequence[float] = LR_CANDIDATES
                         ) -> dict[str, dict[str, Any]]:
    """``"<strategy>, lr <rate>"`` -> config overrides, for every strategy that selects its own rate (not the
    blurred variants) and every candidate rate. The paper's rate for the masker is written ``lr=None``."""
    rates = _check_rates(rates)
    out = {}
    for name, over in strategies.items():
        if name in SELECTION_PARENT:
            continue
        masker = over.get("masker", "random_patches")
        for r in rates:
            out[f"{name}, lr {r:g}"] = {**dict(over), "lr": None if abs(r - paper_rate(masker)) < 1e-12 else r}
    return out


def select_learning_rates(base: Config, strategies: Mapping[str, Mapping[str, Any]], *,
                          rates: Sequence[float] = LR_CANDIDATES, seed: int = 0,
                          probe_seeds: Sequence[int] = (0, 1, 2, 3, 4), store: RunStore | None = None,
                          progress: bool = True, workers: int = 1) -> Table:
    """Train every strategy at every rate (pretraining seed ``seed``), probe, and select by validation accuracy.

    Returns the selection table: one row per (strategy, rate) with ``strategy``, ``lr``, ``val_accuracy``
    (mean over probe seeds), the test ``accuracy_mean`` beside it (reported, never used to select) and
    ``selected``; ``meta["selected"]`` maps every strategy, blurred variants included, to its rate."""
    rates = _check_rates(rates)
    conds = selection_conditions(strategies, rates)
    if workers > 1 and not getattr(store, "planning", False):
        train_and_probe(base, conds, (seed,), probe_seeds, store if store is not None else RunStore(), workers)
    table = compare(base, conds, seeds=(seed,), probe_seeds=probe_seeds, store=store, progress=progress,
                    title="Learning-rate selection (first pretraining seed)")
    table.meta.update(rates=list(rates), selection_seed=seed, criterion=CRITERION)
    if getattr(store, "planning", False):
        return table
    scores: dict[str, dict[float, float]] = {}
    for row in table.rows:
        name, r = row["condition"].rsplit(", lr ", 1)
        run = table.runs[row["condition"]][0]
        row["strategy"], row["lr"] = name, float(r)
        row["val_accuracy"] = validation_accuracy(evaluate(run, probe_seeds))
        row["paper_rate"] = paper_rate(run.config.masker)
        scores.setdefault(name, {})[float(r)] = row["val_accuracy"]
    chosen = {name: pick_rate(s) for name, s in scores.items()}
    for row in table.rows:
        row["selected"] = chosen[row["strategy"]] == row["lr"]
    table.meta["selected"] = selected_rates(chosen, strategies)
    return table


def selected_rates(chosen: Mapping[str, float], strategies: Sequence[str]) -> dict[str, float]:
    """Every strategy's rate: its own selection, or its parent's for a blurred variant.

        >>> selected_rates({"masked periphery": 5e-4}, ["masked periphery", "blurry periphery"])
        {'masked periphery': 0.0005, 'blurry periphery': 0.0005}
    """
    out = {}
    for name in strategies:
        parent = SELECTION_PARENT.get(name, name)
        if parent not in chosen:
            raise ValueError(f"no selected rate for {parent!r} (needed by {name!r}); selected: {sorted(chosen)}")
        out[name] = float(chosen[parent])
    return out


def selected_conditions(strategies: Mapping[str, Mapping[str, Any]], rates: Mapping[str, float]
                        ) -> dict[str, dict[str, Any]]:
    """The strategies' overrides at their selected ``rates`` (``lr=None`` where it is the paper's rate, so
    the run is shared with the fixed-rate table)."""
    out = {}
    for name, over in strategies.items():
        masker = over.get("masker", "random_patches")
        r = float(rates[name])
        out[name] = {**dict(over), "lr": None if abs(r - paper_rate(masker)) < 1e-12 else r}
    return out


def weightless_stale(store: RunStore, cfgs: Sequence[Config], probe_seeds: Sequence[int]) -> list[Config]:
    """The configs whose stored run can no longer serve the selection: trained, but without weights (the
    committed store keeps none) and without a cached probe of ``probe_seeds`` that records validation
    accuracy. Such a run must be trained again to be selected on; the caller says so before doing it."""
    out = []
    for c in cfgs:
        run = store.get(c)
        if run is None or run.has_model("best"):
            continue
        res = run.load_json(_cache_name("best", probe_seeds, {"knn": True}))
        try:
            validation_accuracy(res or {})
        except ValueError:
            out.append(c)
    return out


def chapter_variants(base: Config, strategies: Mapping[str, Mapping[str, Any]], *, seeds: Sequence[int],
                     probe_seeds: Sequence[int], rates: Sequence[float] = LR_CANDIDATES,
                     store: RunStore | None = None, workers: int = 1, progress: bool = True,
                     paper_seeds: Sequence[int] | None = None) -> dict[str, Table]:
    """Chapter 1's table twice: at the paper's fixed rates (``"paper"``) and at the rates selected at this
    budget (``"selected"``), with the selection table (``"selection"``). Runs shared by the variants (the
    first seed at the rate the selection and the paper agree on) are trained once.

    Every row gets ``lr`` (the rate it trained at) and ``lr_source`` ("the paper's choice" or "selected at
    this budget"). The selected variant is trained first; ``paper_seeds`` (default ``seeds``) are the fixed-rate
    table's seeds, so that a short session can publish the procedure's own table before the comparison table."""
    store = store if store is not None else RunStore()
    seeds = tuple(seeds)
    paper_seeds = tuple(seeds if paper_seeds is None else paper_seeds)
    paper_conds = {name: {**dict(over), "lr": None} for name, over in strategies.items()}
    if workers > 1:  # the selection's runs (and the first seed of the fixed rates), in parallel
        train_and_probe(base, {**selection_conditions(strategies, rates), **paper_conds}, seeds[:1], probe_seeds,
                        store, workers)
    selection = select_learning_rates(base, strategies, rates=rates, seed=seeds[0], probe_seeds=probe_seeds,
                                      store=store, progress=progress)
    chosen = selection.meta["selected"]
    sel_conds = selected_conditions(strategies, chosen)
    if workers > 1:  # the procedure's own table first, then the fixed rates' remaining seeds
        train_and_probe(base, sel_conds, seeds, probe_seeds, store, workers)
        train_and_probe(base, paper_conds, paper_seeds, probe_seeds, store, workers)
    paper = compare(base, paper_conds, seeds=paper_seeds, probe_seeds=probe_seeds, raw_pixels=True, store=store,
                    progress=progress, title="Linear probe per masking strategy: the paper's learning rates")
    selected = compare(base, sel_conds, seeds=seeds, probe_seeds=probe_seeds, raw_pixels=True, store=store,
                       progress=progress,
                       title="Linear probe per masking strategy: learning rates selected at this budget")
    for table, source in ((paper, "the paper's choice"), (selected, "selected at this budget")):
        table.meta.update(lr_selection=source, rates=list(rates), criterion=CRITERION,
                          selected=dict(chosen), paper_rates={n: paper_rate(o.get("masker", "random_patches"))
                                                              for n, o in strategies.items()})
        for row in table.rows:
            if row["condition"] in strategies:
                row["lr_source"] = source
    return {"selection": selection, "paper": paper, "selected": selected}
