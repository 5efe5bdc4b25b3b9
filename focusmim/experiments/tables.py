"""The results table: rows of named conditions with their provenance, saved as small JSON.

A table saves itself in the run store's ``tables/`` folder (:func:`tables_dir`); the book's committed tables
under ``results/`` (:func:`results_dir`) change only through :func:`publish` (``python -m focusmim publish``),
so no test, notebook or user run rewrites them.

Example:
    >>> t = Table("probe", [{"condition": "a", "accuracy": 0.5}])
    >>> t.row("a")["accuracy"]
    0.5
"""
from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from focusmim.utils.io import atomic_write_text
from focusmim.config.presets import PRESET_RANK
from focusmim.store.runs import Run, default_root



def results_dir() -> Path:
    """The book's published tables: ``$FOCUSMIM_RESULTS`` or ``results/`` at the repository
    root (small JSON, committed; written only by :func:`publish`)."""
    env = os.environ.get("FOCUSMIM_RESULTS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "results"


def tables_dir() -> Path:
    """Where :meth:`Table.save` writes: ``$FOCUSMIM_TABLES``, else ``tables/`` inside the run
    store (``$FOCUSMIM_RUNS``, default ``runs/``; not tracked by git)."""
    env = os.environ.get("FOCUSMIM_TABLES")
    return Path(env) if env else default_root() / "tables"


def publish(presets: Sequence[str] | None = None, *, src: str | Path | None = None,
            dst: str | Path | None = None) -> list[tuple[Path, Path, bool]]:
    """Copy saved tables ``src/<preset>/*.json`` (default :func:`tables_dir`) into the book's
    ``dst/<preset>/`` (default :func:`results_dir`): the one way the committed tables change.
    ``presets=None`` publishes every preset folder found. Returns ``(source, target, changed)``
    for every table.

        >>> import tempfile
        >>> tmp = Path(tempfile.mkdtemp())
        >>> _ = Table("demo", [{"condition": "a"}]).save("smoke/demo", root=tmp / "tables")
        >>> [(t.relative_to(tmp).as_posix(), changed) for _, t, changed in publish(src=tmp / "tables", dst=tmp / "book")]
        [('book/smoke/demo.json', True)]
        >>> [changed for _, _, changed in publish(src=tmp / "tables", dst=tmp / "book")]
        [False]
    """
    src = Path(src) if src is not None else tables_dir()
    dst = Path(dst) if dst is not None else results_dir()
    if not src.is_dir():
        raise FileNotFoundError(f"no saved tables in {src} (run a notebook or `python -m focusmim run` first, "
                                f"or set FOCUSMIM_TABLES / FOCUSMIM_RUNS to where they were saved)")
    folders = sorted(p for p in src.iterdir() if p.is_dir()) if presets is None else [src / p for p in presets]
    missing = [f.name for f in folders if not f.is_dir()]
    if missing:
        have = sorted(p.name for p in src.iterdir() if p.is_dir())
        raise FileNotFoundError(f"presets {missing} have no saved tables in {src}; saved: {have}")
    out = []
    for folder in folders:
        for f in sorted(folder.glob("*.json")):
            target = dst / folder.name / f.name
            text = f.read_text()
            changed = not target.exists() or target.read_text() != text
            if changed:
                atomic_write_text(text, target)
            out.append((f, target, changed))
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


@dataclass
class Table:
    """Rows of results (dicts) with a title and the budget behind them.

    ``runs``: condition -> the stored runs (one per pretraining seed) behind its row,
    when the table was made by :func:`compare` (not saved: the rows name them by key).
    """

    title: str
    rows: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    runs: dict[str, list[Run]] = field(default_factory=dict, repr=False, compare=False)

    def column(self, name: str) -> list:
        return [r.get(name) for r in self.rows]

    def row(self, condition: str) -> dict:
        for r in self.rows:
            if r["condition"] == condition:
                return r
        raise KeyError(f"no condition {condition!r}; have {[r['condition'] for r in self.rows]}")

    def to_markdown(self, columns: Sequence[str] | None = None) -> str:
        columns = list(columns or ["condition", "accuracy", "knn", "decorrelation", "epochs", "wall_time_s"])
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for r in self.rows:
            lines.append("| " + " | ".join(_fmt(r, c) for c in columns) + " |")
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return f"**{self.title}**\n\n" + self.to_markdown()

    def show(self, columns: Sequence[str] | None = None):
        """The table as a pandas Styler (an HTML ``<table>`` in a notebook and in the book;
        plain text in a terminal), with the same cells as :meth:`to_markdown` and the
        title as its caption; underscores in column names read as spaces. A notebook cell
        ends with ``table.show([...])``.

        Example:
            >>> t = Table("demo", [{"condition": "a", "accuracy_mean": 0.5, "accuracy_std": 0.1}])
            >>> html = t.show(["condition", "accuracy"]).to_html()
            >>> "<table" in html and "50.0 ± 10.0 %" in html and "demo" in html
            True
        """
        import pandas as pd

        columns = list(columns or self._default_columns())
        # headers read as words (and wrap in a narrow column): "wall_time_s" -> "wall time s"
        frame = pd.DataFrame([[_fmt(r, c) for c in columns] for r in self.rows],
                             columns=[c.replace("_", " ") for c in columns])
        # a percentage never breaks before its "%" sign when a long condition name squeezes its column
        styler = frame.style.hide(axis="index").map(lambda v: "white-space: nowrap" if v.endswith("%") else "")
        return styler.set_caption(self.title) if self.title else styler

    def _repr_html_(self) -> str:
        return self.show().to_html()

    def _default_columns(self) -> list[str]:
        default = ["condition", "accuracy", "knn", "decorrelation", "epochs", "wall_time_s"]
        keys = {k for r in self.rows for k in r} | {"accuracy" for r in self.rows if "accuracy_mean" in r}
        cols = [c for c in default if c in keys]
        return cols if len(cols) > 1 else list(dict.fromkeys(k for r in self.rows for k in r))

    def save(self, name: str, root: str | Path | None = None) -> Path:
        """Write ``<root>/<name>.json`` (default root :func:`tables_dir`, never the committed ``results/``)."""
        path = Path(root if root is not None else tables_dir()) / f"{name}.json"
        atomic_write_text(json.dumps({"title": self.title, "rows": self.rows, "meta": self.meta},
                                     indent=1, sort_keys=True, default=str), path)
        return path

    @classmethod
    def load(cls, name: str, root: str | Path | None = None) -> "Table":
        """Read ``<root>/<name>.json`` (default root :func:`tables_dir`, where :meth:`save` writes)."""
        d = json.loads((Path(root if root is not None else tables_dir()) / f"{name}.json").read_text())
        return cls(d["title"], d["rows"], d.get("meta", {}))


def _fmt(row: dict, col: str) -> str:
    if col == "accuracy" and "accuracy_mean" in row:
        return f"{100 * row['accuracy_mean']:.1f} ± {100 * row['accuracy_std']:.1f} %"
    v = row.get(col)
    if v is None:
        return ""
    if col in ("knn", "finetune"):  # accuracies stored as fractions
        return f"{100 * v:.1f} %"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


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
