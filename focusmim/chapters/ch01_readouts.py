"""Chapter 1, "Does the readout matter?": every strategy's frozen encoder read out four ways.

The book's verdicts rest on one readout, the paper's linear probe on raw features. The strategies' codes
are scaled very differently, so this module reads the same features with each readout of
:data:`focusmim.evaluation.readouts.READOUTS` (the paper's probe, the probe on standardised features, cosine kNN and a
one-hidden-layer MLP), from one feature extraction per model (:func:`readout_rows`), tabulates them
(:func:`readout_table`), judges chapter 1's claims under each (:func:`readout_claims`), ranks the
strategies under each (:func:`rankings`) and writes the chapter's sentences from the numbers
(:func:`readout_text`).

With one pretraining seed a claim has no interval: its verdict is ``inconclusive`` with the label
``one pretraining seed: no verdict``, never ``does not hold``; the means' reading is shown beside it.

Example:
    >>> rows = [{"condition": c, "readout": r, "accuracy_mean": a, "accuracy_std": 0.0, "pretrain_seeds": s,
    ...          "seed_accuracies": [a] if s else None}
    ...         for r, accs in {"linear": (0.5, 0.4, 0.3), "knn": (0.4, 0.45, 0.3)}.items()
    ...         for c, a, s in zip(("random patches", "masked periphery", "raw pixels"), accs, ([0], [0], []))]
    >>> rankings(Table("t", rows))["knn"]
    ['masked periphery', 'random patches', 'raw pixels']
    >>> readout_claims(Table("t", rows), ["patches >= periphery"]).rows[0]["linear"]
    'inconclusive: one pretraining seed: no verdict (means: holds, +10.0 points)'
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from typing import Mapping, Sequence

from focusmim.chapters.ch01_masking_strategy import MAIN_CLAIMS, NAME, STRATEGIES
from focusmim.evaluation.claims import describe, judge
from focusmim.config import Config
from focusmim.experiments import Table, provenance
from focusmim.evaluation.paper import CLAIMS
from focusmim.config import resolve_device
from focusmim.data import load_for_config
from focusmim.evaluation.probe import evaluate_readouts, features, raw_pixel_baseline
from focusmim.evaluation.readouts import MLP_HIDDEN, READOUTS, check_readout
from focusmim.store import zoo
from focusmim.store.runs import Run, RunStore

__all__ = ["TABLE", "readout_rows", "readout_matrix", "zoo_runs", "readout_table", "readout_claims", "rankings", "readout_text",
           "NO_VERDICT", "READOUT_NAMES"]

TABLE = f"{NAME}-readouts"  # results/<preset>/01_masking_strategy-readouts.json
NO_VERDICT = "one pretraining seed: no verdict"
READOUT_NAMES = {"linear": "linear probe (the paper's)", "linear_std": "linear probe, standardised features",
                 "knn": "kNN (k = 20, cosine)", "mlp": f"MLP (one hidden layer of {MLP_HIDDEN})"}


def readout_rows(run: Run, probe_seeds: Sequence[int] = (0, 1, 2, 3, 4), which: str | int = "best",
                 readouts: Sequence[str] = READOUTS, *, device: str | None = None, feature_dir=None,
                 **probe_kwargs) -> dict[str, dict]:
    """readout -> probe result (:func:`focusmim.evaluation.probe.evaluate`'s shape: ``accuracy_mean``, ``accuracy_std``,
    ``accuracies`` and ``per_seed`` over ``probe_seeds``) of ``run``'s ``which`` checkpoint, from one feature
    extraction; each readout is cached in the run's folder (the linear one under the book's own probe name,
    so a cached probe is reused). The device queue calls this on a machine holding the run's weights.
    ``feature_dir``: keep the extracted features there too (``<run key>-<which>.pt``), so that readouts
    computed in several calls extract them once."""
    feats = None
    if feature_dir is not None:
        path = Path(feature_dir) / f"{run.dir.name}-{which}.pt"

        def feats():
            if path.exists():
                d = torch.load(path)
                return d["ftr"], d["ltr"], d["fte"], d["lte"], d["seconds"]
            cfg = run.config.replace(foreground="none")
            dev = torch.device(device or resolve_device(cfg.device))
            model = run.load_model(which, device=str(dev))
            train, test = load_for_config(cfg, "train"), load_for_config(cfg, "test")
            t0 = time.perf_counter()
            ftr, fte = features(model.encode, train.images, device=dev), features(model.encode, test.images, device=dev)
            d = dict(ftr=ftr.cpu(), ltr=train.labels.cpu(), fte=fte.cpu(), lte=test.labels.cpu(),
                     seconds=time.perf_counter() - t0)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(d, path)
            return ftr, train.labels.to(dev), fte, test.labels.to(dev), d["seconds"]

    return evaluate_readouts(run, tuple(probe_seeds), which, tuple(readouts), device=device, feats=feats,
                             **probe_kwargs)


def zoo_runs(store: RunStore | None = None, dataset: str = "imagenette") -> dict[str, Run]:
    """condition -> the stored run of the zoo's model of each chapter-1 strategy on ``dataset`` (its run
    folder in ``store``, default the book's ``results/store``; weights from the zoo). Data found here is used
    when the run's recorded folder does not exist on this machine."""
    store = store if store is not None else RunStore(Path(__file__).resolve().parents[2] / "results" / "store")
    by_masker = {over["masker"]: name for name, over in STRATEGIES.items()}
    out = {}
    for e in zoo.manifest():
        if e["dataset"] != dataset or e["masker"] not in by_masker:
            continue
        cfg = Config.from_dict(e["config"])
        if cfg.data_root is not None and not Path(cfg.data_root).expanduser().is_dir():
            cfg = cfg.replace(data_root=None)  # stored on another machine: the data found here
        out[by_masker[e["masker"]]] = Run(store.root / e["run_key"], cfg)
    return {name: out[name] for name in STRATEGIES if name in out}


def _row(condition: str, readout: str, evals: Sequence[dict], runs: Sequence[Run] = ()) -> dict:
    """One table row: a condition under a readout, over its runs (pretraining seeds) and probe seeds."""
    accs = [e["accuracy_mean"] for e in evals]
    per = [p for e in evals for p in e["per_seed"]]
    if len(evals) > 1:
        import statistics

        mean, std = statistics.fmean(accs), statistics.stdev(accs)
    else:
        mean, std = evals[0]["accuracy_mean"], evals[0]["accuracy_std"]
    row = {"condition": condition, "readout": readout, "accuracy_mean": mean, "accuracy_std": std,
           "accuracies": [a for e in evals for a in e["accuracies"]], "probe_seeds": list(evals[0]["seeds"]),
           "train_accuracies": [p.get("train_accuracy") for p in per],
           "val_accuracies": [p.get("val_accuracy") for p in per],
           "failed": any(e.get("failed") for e in evals)}
    if runs:
        row.update(seed_accuracies=accs, pretrain_seeds=[r.config.seed for r in runs],
                   run_keys=[r.dir.name for r in runs], weights=[e.get("weights", "the run's own fp32 weights")
                                                                for e in evals])
    else:
        row["pretrain_seeds"] = []  # no pretraining: a constant in the claims
    return row


def readout_table(runs: Mapping[str, Sequence[Run]], probe_seeds: Sequence[int] = (0, 1, 2, 3, 4),
                  readouts: Sequence[str] = READOUTS, *, raw_pixels: bool = True, device: str | None = None,
                  progress=print, feature_dir=None) -> Table:
    """Every condition of ``runs`` (condition -> its runs, one per pretraining seed) under every readout, plus
    raw pixels: one row per (condition, readout) with the per-probe-seed accuracies, and the provenance in
    the table's meta (dataset, image size, images, pretraining and probe seeds, device, run keys, zoo names)."""
    readouts = [check_readout(r) for r in readouts]
    t0 = time.perf_counter()
    first = next(iter(runs.values()))[0]
    base = first.config
    table = Table("Linear probe, standardised probe, kNN and MLP per masking strategy",
                  meta=provenance(base, seeds=sorted({r.config.seed for rs in runs.values() for r in rs}),
                                  probe_seeds=list(probe_seeds)))
    table.meta.update(readouts=list(readouts), readout_names={r: READOUT_NAMES[r] for r in readouts},
                      mlp_hidden=MLP_HIDDEN, run_keys={c: [r.dir.name for r in rs] for c, rs in runs.items()},
                      zoo={c: [(zoo.for_run(r.dir.name) or {}).get("name") for r in rs] for c, rs in runs.items()})
    results = {(name, r.dir.name): {} for name, rs in runs.items() for r in rs}
    # the cheap readouts for every model first, the mlp last: a table is whole as early as it can be
    for batch in ([r for r in readouts if r != "mlp"], [r for r in readouts if r == "mlp"]):
        for name, rs in runs.items():
            for r in rs:
                if batch:
                    progress(f"{name} (seed {r.config.seed}, run {r.dir.name}): {', '.join(batch)}")
                    results[(name, r.dir.name)].update(readout_rows(r, probe_seeds, "best", batch, device=device,
                                                                    feature_dir=feature_dir))
    for readout in readouts:
        for name, rs in runs.items():
            table.rows.append(_row(name, readout, [results[(name, r.dir.name)][readout] for r in rs], rs))
        if raw_pixels:
            progress(f"raw pixels: {readout}")
            res = raw_pixel_baseline(base, probe_seeds, device=device, run=first, readout=readout)
            table.rows.append(_row("raw pixels", readout, [res]))
    ex = results[(next(iter(runs)), first.dir.name)][readouts[0]]
    table.meta.update(n_train=ex["n_train"], n_test=ex["n_test"], seconds=time.perf_counter() - t0,
                      images=f"{ex['n_train']} labeled (4:1 train/validation per probe seed), {ex['n_test']} test")
    return table


def _by_readout(table: Table) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for r in table.rows:
        out.setdefault(r["readout"], {})[r["condition"]] = r
    return out


def rankings(table: Table) -> dict[str, list[str]]:
    """readout -> the conditions from the highest mean accuracy to the lowest."""
    return {ro: sorted(rows, key=lambda c: -rows[c]["accuracy_mean"]) for ro, rows in _by_readout(table).items()}


def readout_claims(table: Table, claims: Sequence[str] = MAIN_CLAIMS) -> Table:
    """Each claim (:data:`focusmim.evaluation.paper.CLAIMS`) judged inside each readout's rows: one row per claim, one
    column per readout (its verdict in words) and ``verdict <readout>``. With one pretraining seed there is
    no interval: ``inconclusive: one pretraining seed: no verdict``, with the means' reading beside it."""
    out = Table("The paper's claims under each readout", meta=dict(table.meta))
    for c in claims:
        row = {"claim": c, "threshold": CLAIMS[c].threshold()}
        for ro, rows in _by_readout(table).items():
            res = judge(CLAIMS[c], rows)
            if res["verdict"] != "not run" and res["n"] < 2:
                means = {k: v["accuracy_mean"] for k, v in rows.items()}
                on = CLAIMS[c].on_means(means)
                d = means[CLAIMS[c].a] - means[CLAIMS[c].b] if hasattr(CLAIMS[c], "a") else None
                reading = "holds" if on else "does not hold"
                extra = f", {100 * d:+.1f} points" if d is not None else ""
                row[ro] = f"inconclusive: {NO_VERDICT} (means: {reading}{extra})"
                row[f"verdict {ro}"] = "inconclusive"
                row[f"means {ro}"] = reading
            else:
                row[ro] = describe(res)
                row[f"verdict {ro}"] = res["verdict"]
        out.rows.append(row)
    return out


def readout_matrix(table: Table) -> Table:
    """The readout table as one row per condition and one column per readout (mean ± std over probe seeds,
    or over pretraining seeds when there are several), in the paper probe's order, with its rank under each.

        >>> t = Table("t", [{"condition": "a", "readout": "knn", "accuracy_mean": 0.5, "accuracy_std": 0.01}])
        >>> readout_matrix(t).rows
        [{'condition': 'a', 'knn': '50.0 ± 1.0 % (1)'}]
    """
    by = _by_readout(table)
    ranks = rankings(table)
    order = next(iter(ranks.values()))
    out = Table(table.title, meta=dict(table.meta))
    for c in order:
        row = {"condition": c}
        for ro, rows in by.items():
            if c in rows:
                r = rows[c]
                row[ro] = f"{_pts(r['accuracy_mean'])} ± {_pts(r['accuracy_std'])} % ({ranks[ro].index(c) + 1})"
        out.rows.append(row)
    return out


def _pts(x: float) -> str:
    return f"{100 * x:.1f}"


def readout_text(table: Table, claims: Sequence[str] = MAIN_CLAIMS) -> str:
    """The chapter's sentences about the readout table, every number computed from it: each readout's
    ranking, which strategies move in rank against the paper's probe and by how much, the spread of each
    strategy's accuracy over readouts, and which claims' readings change with the readout."""
    ranks = rankings(table)
    rows = _by_readout(table)
    ref = "linear" if "linear" in ranks else next(iter(ranks))
    n_ways = {1: "one way", 2: "two ways", 3: "three ways", 4: "four ways"}.get(len(ranks), f"{len(ranks)} ways")
    lines = [f"Read out {n_ways} from the same features ({table.meta.get('dataset')}, "
             f"{table.meta.get('image_size')} px, pretraining seed{'s' * (len(table.meta.get('seeds', [])) > 1)} "
             f"{', '.join(map(str, table.meta.get('seeds', [])))}, probe seeds "
             f"{', '.join(map(str, table.meta.get('probe_seeds', [])))}):", ""]
    for ro, order in ranks.items():
        lines.append(f"* {READOUT_NAMES.get(ro, ro)}: " + " > ".join(
            f"{c} ({_pts(rows[ro][c]['accuracy_mean'])} %)" for c in order))
    lines.append("")
    moved = []
    for ro, order in ranks.items():
        if ro == ref:
            continue
        shifts = [(c, ranks[ref].index(c) - order.index(c)) for c in order if c in ranks[ref]]
        shifts = [(c, s) for c, s in shifts if s]
        if shifts:
            moved.append(f"under the {READOUT_NAMES.get(ro, ro)}, " + ", ".join(
                f"{c} {'up' if s > 0 else 'down'} {abs(s)} place{'s' * (abs(s) > 1)}" for c, s in shifts))
        else:
            moved.append(f"the {READOUT_NAMES.get(ro, ro)} keeps the paper probe's order")
    lines.append("Against the paper's probe: " + "; ".join(moved) + ".")
    spread = []
    for c in ranks[ref]:
        vals = {ro: rows[ro][c]["accuracy_mean"] for ro in rows if c in rows[ro]}
        hi, lo = max(vals, key=vals.get), min(vals, key=vals.get)
        spread.append((vals[hi] - vals[lo], c, hi, lo, vals))
    spread.sort(reverse=True)
    d, c, hi, lo, vals = spread[0]
    d2, c2, *_ = spread[-1]
    lines.append(f"The readout moves {c} the most ({_pts(d)} points between {READOUT_NAMES.get(lo, lo)}, "
                 f"{_pts(vals[lo])} %, and {READOUT_NAMES.get(hi, hi)}, {_pts(vals[hi])} %) and {c2} the least "
                 f"({_pts(d2)} points).")
    ct = readout_claims(table, claims)
    changed = [r["claim"] for r in ct.rows if len({r.get(f"means {ro}", r.get(f"verdict {ro}")) for ro in ranks}) > 1]
    same = [r["claim"] for r in ct.rows if r["claim"] not in changed]
    if changed:
        lines.append("The means' reading of " + ", ".join(f"'{c}'" for c in changed) + " changes with the readout ("
                     + "; ".join(f"{c}: " + ", ".join(
                         f"{ro} {next(r for r in ct.rows if r['claim'] == c).get(f'means {ro}', '')}"
                         for ro in ranks) for c in changed) + ")"
                     + (f"; that of {', '.join(repr(c) for c in same)} does not." if same else "."))
    else:
        lines.append("No claim's reading of the means changes with the readout.")
    n = len(table.meta.get("seeds", []))
    if n < 2:
        lines.append(f"With {n} pretraining seed none of these is a verdict ({NO_VERDICT}); the rankings are "
                     f"what a second and third seed must confirm.")
    return "\n".join(lines)
