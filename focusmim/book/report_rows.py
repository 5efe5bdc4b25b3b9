"""What the results page says about a table's rows: which tables it reads (the largest budget of each),
the budget behind a row, why a row's runs are stale, and the small text helpers the page's parts share.
"""
from __future__ import annotations
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping
from focusmim.config import Config
from focusmim.experiments import Table, results_dir
from focusmim.book.notebook import PRESET_RANK, load_tables
from focusmim.config.presets import PRESETS



PAPER_EPOCHS = PRESETS["paper"]["epochs"]  # the paper's pretraining budget (its protocol: the paper preset)


def _pct(v: Any) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f} %"


def _pm(mean: float, std: float | None) -> str:
    """``41.8 ± 0.6 %`` with no-break spaces, so a narrow table column never wraps inside the number.

        >>> _pm(0.418, 0.006) == "41.8\u00a0±\u00a00.6\u00a0%"
        True
    """
    return f"{100 * mean:.1f}\u00a0±\u00a0{100 * (std or 0):.1f}\u00a0%"


def _table_names(root: Path) -> list[str]:
    """The names of the tables stored under ``root/<preset>/`` (any preset)."""
    return sorted({p.stem for d in root.iterdir() if d.is_dir() and d.name in PRESET_RANK
                   for p in d.glob("*.json")}) if root.exists() else []


def collect(root: str | Path | None = None) -> dict[str, tuple[str, Table]]:
    """Every stored table name -> (preset, Table) of its largest-budget preset."""
    root = Path(root) if root is not None else results_dir()
    out = {}
    for name in _table_names(root):
        tables = load_tables(name, root)
        if tables:
            preset = next(iter(tables))
            out[name] = (preset, tables[preset])
    return out


def _cell(text: Any) -> str:
    """Text for a markdown table cell: a '|' inside (e.g. chapter 5's 'model | input' conditions) escaped."""
    return str(text).replace("|", "\\|")


def _budget(meta: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    # where the row's runs were trained (they record it) before the executing machine's meta
    dev = row.get("device") or meta.get("device_name") or meta.get("device") or ""
    seeds = row.get("pretrain_seeds", meta.get("seeds", meta.get("pretraining seeds")))
    wall = row.get("wall_time_s")
    if (row.get("epochs") == 0 or row.get("checkpoint") == "none") and not row.get("pretrain_seeds"):
        # a baseline without pretraining (raw pixels; in a curves table, its constant row at each epoch)
        return f"{meta.get('dataset', '?')} {meta.get('image_size', '?')} px, no pretraining"
    parts = [f"{meta.get('dataset', '?')} {meta.get('image_size', '?')} px",
             f"{row.get('epochs', meta.get('epochs', '?'))} ep"]
    if meta.get("batch_size"):
        parts.append(f"batch {meta['batch_size']}")
    precision = row.get("precision") or (None if row.get("device") else meta.get("precision"))
    if precision and "bf16" in str(precision):  # the runs' own record; the executing machine's only without one
        parts.append("bf16")
    parts += [f"seeds {list(seeds) if seeds is not None else '?'}", str(dev)]
    if wall:
        parts.append(f"{wall / 60:.1f} min" if wall < 3600 else f"{wall / 3600:.1f} h")
    return ", ".join(parts)


STALE_REASONS = {"foveal": "runs trained with the earlier foveal filter (before the reference's foveation)",
                 "blurry_periphery": "runs trained at lr 5e-4 (the paper's rule for the blurry periphery: 1e-4)",
                 "covert_attention": "runs trained with the second disc at the object's first maximal pixel (before "
                                     "the confident centroid)"}


def stale_reason(row: Mapping[str, Any], store: str | Path | None = None, meta: Mapping | None = None) -> str:
    """Why a stored row's runs are no longer what their condition means today ("" when they are): a run
    whose stored config keys elsewhere now was made under an earlier rule (the foveal filter, the blurry
    periphery's learning rate). Read from the book's run store (``results/store``); runs on data that
    need local files to be keyed (imagenette, own images) are not checked."""
    if row.get("older"):
        return str(row["older"])
    if meta is not None and "disc on the object" in str(row.get("condition", "")) and "object_disc_rule" not in meta:
        return "errors measured with the disc at the object's first maximal pixel (before the centroid rule)"
    root = Path(store) if store is not None else results_dir() / "store"
    for key in row.get("run_keys") or ():
        p = root / key / "config.json"
        if not p.exists():
            continue
        try:
            cfg = Config.from_dict(json.loads(p.read_text()))
        except (ValueError, TypeError):
            continue
        if cfg.dataset in ("cifar10", "stl10", "synthetic") and cfg.key() != key:
            return STALE_REASONS.get(cfg.masker, "runs keyed by an earlier rule")
    return ""


def _final_rows(rows: list[dict]) -> list[dict]:
    """Rows of tables that track a condition over training (an ``epoch`` column) reduced
    to the last epoch of each condition; other tables unchanged."""
    last: dict[str, dict] = {}
    for r in rows:
        if "epoch" not in r:
            return rows
        if r["condition"] not in last or r["epoch"] > last[r["condition"]]["epoch"]:
            last[r["condition"]] = r
    return list(last.values())


def _is_chapter(name: str) -> bool:
    """Chapter tables are named after their notebook (``01_...``); others are internal checks."""
    return name[:2].isdigit()


def _and(items, word: str = "and") -> str:
    """``a, b and c``.

        >>> _and([10, 25, 50]), _and(["x"]), _and([100, 500], "or"), _and([])
        ('10, 25 and 50', 'x', '100 or 500', '')
    """
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _range(values: Iterable[int]) -> str:
    v = sorted(set(values))
    return "" if not v else str(v[0]) if len(v) == 1 else f"{v[0]}-{v[-1]}"
