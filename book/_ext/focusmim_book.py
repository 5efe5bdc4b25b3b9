"""Sphinx extension of the book (loaded by ``_config.yml``'s ``sphinx.local_extensions``).

It keeps every page self-contained and offline:

- plotly.js for the kernel-free explorers comes from the installed ``plotly`` wheel
  (``plotly/package_data/plotly.min.js``): copied into the built ``_static/`` and loaded
  only by the pages that hold a plotly figure (their outputs are written with
  ``include_plotlyjs=False``, see :func:`focusmim.book.widgets.static.to_html`). This is the
  book's only vendored JavaScript; it is copied at build time, never committed.
- sphinx-thebe's scripts are dropped: the book has no launch or live-code buttons, and
  the extension (always loaded by Jupyter Book) writes its configuration script twice
  (a ``THEBE_JS_URL`` redeclaration error on every page) and points at unpkg.com.
"""
from __future__ import annotations

import shutil
from pathlib import Path

PLOTLY_JS = "plotly.min.js"
PLOTLY_MARK = 'class="plotly-graph-div"'


def plotly_js_path() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / PLOTLY_JS
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the plotly package is needed to build the book")
    return path


def _is_thebe(script) -> bool:
    name = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return name.endswith("sphinx-thebe.js") or "THEBE_JS_URL" in body


def page_context(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if scripts is not None:
        scripts[:] = [s for s in scripts if not _is_thebe(s)]  # in place: the builder's own list
    if PLOTLY_MARK in context.get("body", ""):
        app.add_js_file(PLOTLY_JS, priority=100)


def copy_plotly(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plotly_js_path(), static / PLOTLY_JS)


def setup(app):
    plotly_js_path()  # fail before the build, naming the missing file
    app.connect("html-page-context", page_context)
    app.connect("build-finished", copy_plotly)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
