"""What the main job prints after its table: the accuracy each condition reached against chance, the probe's
notes (a stuck probe, a refit), what the numbers mean at this budget, and the bar chart.
"""
from __future__ import annotations
import json
from pathlib import Path
import matplotlib.pyplot as plt
from focusmim.data.synthetic import CLASSES
from focusmim.evaluation.paper import PAPER_ACCURACY
from focusmim.book.plots.common import table_bars
from focusmim.evaluation.probe import evaluate



def report_main_job(table, out) -> str:
    """The main job's printed report: the table (accuracy as mean ± std over pretraining seeds, and
    as a multiple of chance), the chance level, two lines on what the numbers mean, the paper's numbers
    only when the run follows its STL-10 protocol, and the paths of a bar chart (PNG) and the numbers (JSON).

        >>> from focusmim.experiments import Table
        >>> t = Table("demo", [dict(condition="random patches", accuracy_mean=0.31, accuracy_std=0.01),
        ...                    dict(condition="raw pixels", accuracy_mean=0.25, accuracy_std=0.0)],
        ...           dict(dataset="synthetic", image_size=32, epochs=3, seeds=[0, 1, 2], seconds=60.0,
        ...                device_name="CPU", n_classes=10))
        >>> import tempfile; text = report_main_job(t, tempfile.mkdtemp())
        >>> print(text.splitlines()[5])
        Chance is 10.0 % (10 balanced classes).
        >>> print(text.splitlines()[6])
        Random patches is best: 31.0 ± 1.0 % (3 pretraining seeds), 6.0 points above raw pixels (25.0 %), 3.1x chance.
    """

    m = table.meta
    n_classes = m.get("n_classes") or _n_classes(m)
    chance = 1.0 / n_classes
    comparable = m.get("dataset") == "stl10" and m.get("image_size") == 96
    for r in table.rows:
        r["x chance"] = f"{r['accuracy_mean'] / chance:.1f}x"
        if comparable and r["condition"] in PAPER_ACCURACY:
            r["paper (STL-10 protocol)"] = f"{100 * PAPER_ACCURACY[r['condition']]:.1f} %"
    # the linear probe only (the paper's read-out); kNN stays in the JSON: on the synthetic images a
    # nearest neighbour in pixel space is strong where a linear read-out of pixels is not
    cols = ["condition", "accuracy", "x chance"] + (["paper (STL-10 protocol)"] if comparable else []) + [
        "wall_time_s"]
    lines = [table.to_markdown(cols), ""]
    lines.append(f"Chance is {100 * chance:.1f} % ({n_classes} balanced classes).")
    lines += _meaning(table.rows, chance, len(m.get("seeds", [])))
    lines += probe_notes(table, chance)
    if comparable:
        lines.append("'paper (STL-10 protocol)': the paper's numbers (STL-10, 96 px, 100,000 images, 500 epochs); "
                     f"this run: {m.get('epochs')} epochs.")
    else:
        lines.append(f"The paper's numbers (STL-10 protocol: 96 px, 500 epochs) are not shown: this run ({m.get('dataset')}, "
                     f"{m.get('image_size')} px, {m.get('epochs')} epochs) is not comparable in absolute terms.")
    lines.append(f"{m.get('dataset')} {m.get('image_size')} px, {m.get('epochs')} epochs, pretraining seeds "
                 f"{m.get('seeds')}, probe seeds {m.get('probe_seeds')}, device {m.get('device_name')}, "
                 f"{m.get('seconds', 0):.0f} s in all")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table.meta["chance"] = chance
    (out / "results.json").write_text(json.dumps({"title": table.title, "rows": table.rows, "meta": table.meta},
                                                 indent=1, sort_keys=True, default=str))
    png = _chart(table, chance, out / "results.png")
    lines.append(f"wrote {png} (bar chart) and {out / 'results.json'} (numbers)")
    return "\n".join(lines)


def probe_notes(table, chance) -> list[str]:
    """One line for each probe head of the table's runs that learned nothing on raw features (refitted on
    standardised features, or failed: :func:`focusmim.evaluation.readouts.fit_linear_heads`), and one for each row
    below 2x chance saying why: its probe failed, or its head learned (train accuracy) from features that
    carry little (kNN). Reads the runs' cached probes; nothing is trained.

        >>> from focusmim.experiments import Table
        >>> probe_notes(Table("t", [dict(condition="a", accuracy_mean=0.5, accuracy_std=0.0)]), 0.1)
        []
    """
    out = []
    m = table.meta
    for name, runs in table.runs.items():
        for run in runs:
            res = evaluate(run, m.get("probe_seeds", (0, 1, 2, 3, 4)), **m.get("probe", {}))
            for seed, p in zip(res["seeds"], res["per_seed"]):
                if p.get("retry") or p.get("failed"):
                    first = p.get("first_fit", {})
                    out.append(f"Probe of {name}, pretraining seed {run.config.seed}, probe seed {seed}: "
                               + (f"{p['reason']}; no result." if p.get("failed") else
                                  f"{p['retry']}: {100 * first.get('accuracy', float('nan')):.1f} % -> "
                                  f"{100 * p['accuracy']:.1f} %."))
    for r in table.rows:
        if r["condition"] == "raw pixels" or r["accuracy_mean"] >= 2 * chance:
            continue
        evals = [evaluate(run, m.get("probe_seeds", (0, 1, 2, 3, 4)), **m.get("probe", {}))
                 for run in table.runs.get(r["condition"], [])]
        per = [p for e in evals for p in e["per_seed"]]
        if any(p.get("failed") for p in per):
            why = "its probe learned nothing on some seeds (above)"
        else:
            train = max((p.get("train_accuracy") or 0 for p in per), default=0)
            why = (f"its heads learned (train accuracy up to {100 * train:.1f} %) from features that carry little: "
                   f"kNN {100 * (r.get('knn') or 0):.1f} %")
        out.append(f"{r['condition'].capitalize()} is below 2x chance ({r['accuracy_mean'] / chance:.1f}x): {why}.")
    return out


def _n_classes(meta) -> int:
    return {"synthetic": len(CLASSES), "cifar10": 10, "stl10": 10}.get(meta.get("dataset"), 10)


def _meaning(rows, chance, n_seeds) -> list[str]:
    learned = [r for r in rows if r["condition"] != "raw pixels"]
    raw = next((r for r in rows if r["condition"] == "raw pixels"), None)
    best = max(learned, key=lambda r: r["accuracy_mean"])
    rest = sorted((r for r in learned if r is not best), key=lambda r: -r["accuracy_mean"])
    spread = f"{100 * best['accuracy_mean']:.1f} ± {100 * best['accuracy_std']:.1f} %"
    seeds = f"{n_seeds} pretraining seed{'s' * (n_seeds != 1)}"
    first = f"{best['condition'].capitalize()} is best: {spread} ({seeds})"
    if raw is not None:
        first += (f", {100 * (best['accuracy_mean'] - raw['accuracy_mean']):.1f} points "
                  f"{'above' if best['accuracy_mean'] >= raw['accuracy_mean'] else 'below'} raw pixels "
                  f"({100 * raw['accuracy_mean']:.1f} %)")
    first += f", {best['accuracy_mean'] / chance:.1f}x chance."
    out = [first]
    if rest:
        nxt = rest[0]
        gap = best["accuracy_mean"] - nxt["accuracy_mean"]
        noise = max(best["accuracy_std"], nxt["accuracy_std"])
        verdict = (f"{'larger than' if gap > noise else 'within'} the seed spread ({100 * noise:.1f})" if n_seeds > 1
                   else "with one pretraining seed, so no seed spread to compare with")
        low = min(learned, key=lambda r: r["accuracy_mean"])
        out.append(f"Next: {nxt['condition']} ({100 * nxt['accuracy_mean']:.1f} %), {100 * gap:.1f} points behind, "
                   f"{verdict}; lowest: {low['condition']} "
                   f"({100 * low['accuracy_mean']:.1f} %, {low['accuracy_mean'] / chance:.1f}x chance).")
    return out


def _chart(table, chance, path):

    fig = table_bars(table, lines={"chance": chance}, title=table.title)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
