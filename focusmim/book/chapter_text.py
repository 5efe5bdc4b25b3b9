"""A chapter's generated lines: its provenance from its published table, the book's one verdict per claim, and
the notebooks' cells that depend only on the committed tables, executed again without the chapter's runs.

Cells tagged ``from-tables`` call only functions of this module (or :mod:`focusmim.book.prose`) with the notebook's
name and preset, so :func:`refresh_table_cells` can execute them again on today's tables and store their outputs;
``tests/test_chapter_text.py`` fails when a stored output differs from a fresh execution.

Example:
    >>> "not the book's headline tier" in chapter_provenance("02_decorrelation", "gpu")
    True
"""
from __future__ import annotations

import ast
import contextlib
import io
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

from focusmim.book import report
from focusmim.chapters import ch01_readouts
from focusmim.config import Config
from focusmim.experiments import load_tables, results_dir
from focusmim.config.presets import PRESET_RANK as _RANK
from focusmim.book.prose import Facts

__all__ = ["chapter_provenance", "show_provenance", "show_verdicts", "book_verdicts", "CHAPTER_TABLE", "TAG",
           "rendered_preset", "refresh_table_cells", "execute_cell", "lr_selection_section", "show_lr_selection",
           "readout_section", "show_readouts"]

TAG = "from-tables"


class _Markdown(str):
    """Text that a notebook renders as Markdown (IPython's display protocol), and compares as text."""

    def _repr_markdown_(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return "<generated markdown>"
# the table whose meta and rows a chapter's first lines describe (a chapter saving several names its main one)
CHAPTER_TABLE = {"05_covert_attention": "05_covert_attention-errors"}
HEADLINE = Facts.headline
_DATA_NAMES = {"cifar10": "CIFAR-10", "imagenette": "imagenette96 (ImageNet photographs)", "stl10": "STL-10",
               "synthetic": "the embedded synthetic images", "imagefolder": "your own images"}


def _row_configs(row: Mapping, store: Path) -> list[Config]:
    import json

    out = []
    for key in row.get("run_keys") or ():
        p = store / key / "config.json"
        if p.exists():
            try:
                out.append(Config.from_dict(json.loads(p.read_text())))
            except (ValueError, TypeError):
                continue
    return out


def chapter_provenance(chapter: str, preset: str, root: str | Path | None = None) -> str:
    """A chapter's first lines, generated from its published table at ``preset``: the data, image size, images,
    epochs, pretraining and probe seeds (from the rows, not the notebook's parameters), where the runs trained
    and in which precision, each condition's learning rate, the conditions trained under an earlier rule, whether
    its runs are chapter 1's, and, when the tier is not the book's headline tier, that it is not."""
    root = Path(root) if root is not None else results_dir()
    name = CHAPTER_TABLE.get(chapter, chapter)
    tables = load_tables(name, root)
    if preset not in tables:
        return (f"**Provenance.** No table of this chapter is published at the `{preset}` preset "
                f"(`results/{preset}/{name}.json`): the numbers below are this execution's own.")
    t = tables[preset]
    m, rows = t.meta, [r for r in t.rows if r.get("pretrain_seeds")]
    store = root / "store"
    seeds = sorted({s for r in rows for s in r["pretrain_seeds"]})
    probe = m.get("probe_seeds", m.get("probe seeds"))
    devices = sorted({str(r["device"]) for r in rows if r.get("device")}) or [str(m.get("device_name", "?"))]
    precisions = sorted({str(r["precision"]) for r in rows if r.get("precision")}) or \
        [str(m.get("precision", m.get("precision_of_executing_machine", "?")))]
    images = m.get("n_unlabeled")
    images = "all training images" if images in (None, "all") else f"{int(images):,} pretraining images"
    lrs: dict[float, list[str]] = {}
    stale = []
    for r in rows:
        cfgs = _row_configs(r, store)
        lr = r.get("lr") or (cfgs[0].resolved_lr() if cfgs else None)
        if lr is not None:
            lrs.setdefault(float(lr), []).append(r["condition"])
        why = report.stale_reason(r, store, m)
        if why:
            stale.append(f"{r['condition']}: {why}")
    lr_text = "; ".join(f"{lr:g} for {', '.join(c)}" for lr, c in sorted(lrs.items())) or "not recorded"
    lines = [f"**Provenance of this chapter's table** (`results/{preset}/{name}.json`, generated from it): "
             f"{_DATA_NAMES.get(m.get('dataset'), m.get('dataset'))}, {m.get('image_size')} px, {images}, "
             f"{m.get('epochs')} epochs, batch {m.get('batch_size')}; pretraining seeds {seeds} "
             f"({len(seeds)} per condition), probe seeds {list(probe) if probe else '?'}; trained on "
             f"{', '.join(devices)} in {', '.join(precisions)}; learning rates {lr_text}."]
    if stale:
        lines.append("Trained under an earlier rule: " + "; ".join(stale) + ".")
    if chapter != "01_masking_strategy":
        ch1 = load_tables("01_masking_strategy", root)
        headline = ch1.get(HEADLINE)
        ours = {k for r in t.rows for k in r.get("run_keys") or ()}
        shared = ours & {k for r in (headline.rows if headline else []) for k in r.get("run_keys") or ()}
        lines.append(f"{'Some' if shared else 'None'} of its runs are those of chapter 1's table "
                     f"(`{HEADLINE}` tier){'' if shared else '; its models were trained for this tier'}.")
    if preset != HEADLINE:
        lines.append(f"**This chapter is at the `{preset}` tier, not the book's headline tier (`{HEADLINE}`: the "
                     f"paper's 96 px on real photographs).** Its numbers test the pipeline and give a first "
                     f"reading at a small budget, not the paper's protocol.")
    return "\n\n".join(lines)


def show_provenance(nb) -> Any:
    """:func:`chapter_provenance` of a notebook context (``nb.name``, ``nb.preset``) as rendered Markdown."""
    return _Markdown(chapter_provenance(nb.name, nb.preset))


def show_verdicts(claims: Sequence[str]) -> Any:
    """:func:`book_verdicts` as rendered Markdown."""
    return _Markdown(book_verdicts(claims))


def book_verdicts(claims: Sequence[str], root: str | Path | None = None) -> str:
    """The one verdict the book gives each claim (the results page's: sign and size, where it was judged)."""
    out = []
    for c in claims:
        r = report.verdict_of(c, root)
        out.append(f"- {c}: {r['sign_verdict']} in sign, {r['size_verdict']} in size; ours {r['ours_text']}, "
                   f"paper {r['paper_text']}; judged in {r['table']} ({r['preset']} tier) on the results page")
    return "\n".join(out)


def rendered_preset(nb_json) -> str | None:
    """The preset a committed notebook was rendered at, read from its setup cell's printed provenance."""
    for cell in nb_json.cells:
        for out in cell.get("outputs", []):
            m = re.search(r"Provenance: notebook: \S+; preset: (\w+);", out.get("text", ""))
            if m:
                return m.group(1)
    return None


def execute_cell(source: str, namespace: dict) -> list[dict]:
    """Execute one cell's code in ``namespace`` and return its outputs as nbformat dicts: what it printed
    (``stream``) and its last expression's value (``execute_result``: markdown when it has one, else text)."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(tree, "<cell>", "exec"), namespace)
        value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace) if last else None
    outputs: list[dict] = []
    if buf.getvalue():
        outputs.append({"output_type": "stream", "name": "stdout", "text": buf.getvalue()})
    if value is not None:
        data = {"text/plain": repr(value)}
        if hasattr(value, "_repr_markdown_"):
            data["text/markdown"] = value._repr_markdown_()
        outputs.append({"output_type": "execute_result", "data": data, "metadata": {}, "execution_count": None})
    return outputs


def refresh_table_cells(path: str | Path, write: bool = True) -> list[int]:
    """Execute again every cell of the notebook at ``path`` tagged :data:`TAG` (they read only the committed
    tables), with ``nb`` standing for the notebook context at its rendered preset; store their outputs when
    ``write``. Returns the indices of the cells whose outputs changed."""
    import nbformat

    package = sys.modules[__name__.split(".")[0]]  # the notebooks' cells say focusmim.<module>
    path = Path(path)
    book = nbformat.read(path, 4)
    preset = rendered_preset(book)
    if preset is None:
        raise ValueError(f"{path}: no rendered preset found in its setup cell's output; render it with papermill first")
    changed = []
    for i, cell in enumerate(book.cells):
        if cell.cell_type != "code" or TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        ns = {"focusmim": package, "nb": SimpleNamespace(name=path.stem, preset=preset)}
        outputs = [nbformat.from_dict(o) for o in execute_cell(cell.source, ns)]
        if cell.get("execution_count") is None:  # nbval refuses a cell with outputs and no execution count
            cell["execution_count"] = i + 1
        for o in outputs:
            if o.get("output_type") == "execute_result":
                o["execution_count"] = cell.get("execution_count")
        if [dict(o) for o in outputs] != [dict(o) for o in cell.get("outputs", [])]:
            cell.outputs = outputs
            changed.append(i)
    if write and changed:
        nbformat.write(book, path)
    return changed


SELECTION = "01_masking_strategy-lr_selection"
_CH1_CLAIMS = ("patches >= periphery", "periphery >> foveal", "foveal ~ autoencoder", "autoencoder > raw pixels",
               "blur hurts patches", "blur hurts periphery")


def _selection_tables(facts: Facts, tier: str) -> str:
    sel = facts.table(SELECTION, tier)
    lines = [f"**The selection at the `{tier}` tier** ({facts.budget(SELECTION, tier)}; chosen by "
             f"{sel.meta.get('criterion', 'validation accuracy')}):", "",
             "| strategy | rate | validation | test | selected |", "|---|---|---|---|---|"]
    for r in sel.rows:
        paper = " (the paper's)" if r["lr"] == r["paper_rate"] else ""
        lines.append(f"| {r['strategy']} | {r['lr']:g}{paper} | {100 * r['val_accuracy']:.1f} % | "
                     f"{100 * r['accuracy_mean']:.1f} % | {'yes' if r['selected'] else ''} |")
    lines += ["", facts.selection_summary(tier), ""]
    if facts.has("01_masking_strategy-selected", tier) and facts.has("01_masking_strategy", tier):
        paper_t, sel_t = facts.table("01_masking_strategy", tier), facts.table("01_masking_strategy-selected", tier)
        lines += ["| strategy | the paper's rates | rates selected at this budget |", "|---|---|---|"]
        for r in paper_t.rows:
            lines.append(f"| {r['condition']} | {facts.acc('01_masking_strategy', r['condition'], tier)} | "
                         f"{facts.acc('01_masking_strategy-selected', r['condition'], tier)} |")
        lines += ["", "| claim | the paper's rates | rates selected at this budget |", "|---|---|---|"]
        for c in _CH1_CLAIMS:
            lines.append(f"| {c} | {facts.judged(c, '01_masking_strategy', tier)} | "
                         f"{facts.judged(c, '01_masking_strategy-selected', tier)} |")
        lines += ["", "Ordering with the paper's rates: " + ", ".join(facts.ordering("01_masking_strategy", tier)) +
                  ". With the selected rates: " + ", ".join(facts.ordering("01_masking_strategy-selected", tier)) + "."]
    return "\n".join(lines)


def lr_selection_section(preset: str, root: str | Path | None = None) -> str:
    """Chapter 1's learning-rate section for ``preset``, generated from the published tables: this tier's
    selection when it has run, else the open confound stated, and the largest smaller tier's selection shown."""
    facts = Facts(root)
    tiers = sorted(load_tables(SELECTION, facts.root), key=lambda p: -_RANK.get(p, -1))
    out = []
    if preset in tiers:
        out.append(_selection_tables(facts, preset))
    else:
        out.append(f"**At the `{preset}` tier the learning rates are the paper's, selected at its budget "
                   f"({facts.paper_epochs} epochs on STL-10), not at this one:** the masked periphery and its blurred "
                   f"variant train at the smaller rate, the other strategies at the larger. Keeping the outcome of "
                   f"the paper's selection is not its procedure, so this is the open confound of this chapter's "
                   f"comparison. " + (
                       "The selection at this tier is the first item of the GPU lease queue (`python "
                       "scripts/device_queue.py --preset imagenette --dry-run`)." if preset == "imagenette" else
                       f"`python scripts/lr_selection.py --preset {preset}` runs the selection at this tier."))
        smaller = [t for t in tiers if _RANK.get(t, 99) < _RANK.get(preset, 99)]
        if smaller:
            out.append(f"The procedure has run at a smaller tier; shown (a small budget: it shows what the "
                       f"selection does to the comparison there, not the paper's result):\n\n"
                       + _selection_tables(facts, smaller[0]))
        else:
            out.append("No tier has run the selection yet (`python scripts/lr_selection.py --preset cpu`).")
    return "\n\n".join(out)


def show_lr_selection(nb) -> Any:
    """:func:`lr_selection_section` of a notebook context as rendered Markdown."""
    return _Markdown(lr_selection_section(nb.preset))


def readout_section(preset: str, root: str | Path | None = None) -> str:
    """Chapter 1's readout check (:mod:`focusmim.chapters.ch01_readouts`) from its published table: accuracy of
    every strategy under every readout with its rank, the claims under each readout, and the generated summary;
    this preset's table, else the largest one published."""
    facts = Facts(root)
    tables = load_tables(ch01_readouts.TABLE, facts.root)
    if not tables:
        return ("No readout table is published yet: `python scripts/readouts.py` computes it (features once per "
                "model, every readout on them) and publishes it.")
    tier = preset if preset in tables else max(tables, key=lambda p: _RANK.get(p, -1))
    t = tables[tier]
    readouts = list(t.meta.get("readouts") or [])
    m = ch01_readouts.readout_matrix(t)
    c = ch01_readouts.readout_claims(t)
    seeds = sorted({s for r in t.rows for s in r.get("pretrain_seeds") or []})
    head = (f"**Readouts at the `{tier}` tier** (`results/{tier}/{ch01_readouts.TABLE}.json`; "
            f"{t.meta.get('dataset', '?')}, {t.meta.get('image_size', '?')} px, pretraining seeds {seeds}, probe "
            f"seeds {t.meta.get('probe_seeds', '?')}; readouts {', '.join(readouts)}):")
    return "\n\n".join([head, _markdown(m.rows, ["condition", *readouts]), _markdown(c.rows, ["claim", *readouts]),
                        ch01_readouts.readout_text(t)])


def _markdown(rows: Sequence[Mapping], columns: Sequence[str]) -> str:
    """Rows of already formatted cells as a markdown table ('|' inside a cell escaped)."""
    cell = lambda v: "" if v is None else str(v).replace("|", "\\|")  # noqa: E731
    return "\n".join(["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)] +
                     ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows])


def show_readouts(nb) -> Any:
    """:func:`readout_section` of a notebook context as rendered Markdown."""
    return _Markdown(readout_section(nb.preset))
