"""Hygiene of the executed notebooks that the book renders: a reader sees figures, tables
and printed results, never the machinery that produced them.

:func:`clean` removes, from an executed notebook (as an nbformat dict):

- papermill's injected-parameters cell (the committed notebook re-executes at the
  preset its reader chooses; the outputs print the budget they show);
- progress bars: tqdm's widget outputs (``tqdm.auto`` under Jupyter) and stderr streams
  holding a bar (``\\r`` or ``12%|###  | 3/25``), frozen at whatever state they had;
- ipywidgets outputs and the notebook's widget state: without a kernel they are dead
  (and their manager would load from a CDN); the book's kernel-free explorers are plotly
  figures (:mod:`focusmim.book.widgets.static`), the live ipywidgets come back on execution.

``scripts/run_book_cpu.sh`` runs it after papermill: ``python -m focusmim.book.hygiene clean FILE...``.

Example:
    >>> nb = {"metadata": {"widgets": {"state": {}}}, "cells": [
    ...     {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "outputs": [], "source": ""},
    ...     {"cell_type": "code", "metadata": {}, "source": "", "outputs": [
    ...         {"output_type": "stream", "name": "stderr", "text": "  38%|###8      | 768/2000\\r"},
    ...         {"output_type": "stream", "name": "stdout", "text": "accuracy 41.8 %\\n"},
    ...         {"output_type": "display_data", "metadata": {}, "data": {
    ...             "application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "VBox()"}}]}]}
    >>> out = clean(nb)
    >>> len(out["cells"]), [o["text"] for o in out["cells"][0]["outputs"]], "widgets" in out["metadata"]
    (1, ['accuracy 41.8 %\\n'], False)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["clean", "clean_file", "is_progress", "WIDGET_VIEW"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+")


def is_progress(output: dict) -> bool:
    """Whether a cell output is a progress bar (or another widget): dropped by :func:`clean`."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        text = "".join(text) if isinstance(text, list) else text
        return output.get("name") == "stderr" and ("\r" in text or bool(_BAR.search(text)))
    return WIDGET_VIEW in output.get("data", {})


def clean(nb: dict) -> dict:
    """Drop injected parameters, progress bars, widget outputs and widget state (in place; returned)."""
    if not isinstance(nb, dict) or "cells" not in nb:
        raise ValueError("nb is not a notebook; allowed: an nbformat dict with 'cells'")
    nb["cells"] = [c for c in nb["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb["cells"]:
        if "outputs" in cell:
            cell["outputs"] = [o for o in cell["outputs"] if not is_progress(o)]
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def clean_file(path: str | Path) -> Path:
    """:func:`clean` a notebook file in place (written only when something changed)."""
    import nbformat

    path = Path(path)
    if path.suffix != ".ipynb" or not path.exists():
        raise ValueError(f"path={str(path)!r} is not allowed; allowed: an existing .ipynb file")
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    clean(nb)
    if nbformat.writes(nb) != before:
        nbformat.write(nb, path)
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "clean":
        print("usage: python -m focusmim.book.hygiene clean NOTEBOOK.ipynb...", file=sys.stderr)
        return 2
    for p in argv[1:]:
        clean_file(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
