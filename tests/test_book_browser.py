"""The book as a reader meets it: built with ``jupyter-book build .``, served over HTTP on
127.0.0.1 and opened page by page in headless Chromium (Debian's ``chromium`` package,
driven by playwright) at 1280x900, offline.

Every page must load with no console error, no failed request and no request to another
host; every image must be loaded and neither blank nor washed out; every table must be an
HTML ``<table>`` (no pipe text); nothing may be wider than its column; and every plotly
slider must change its figure when moved. A full-page screenshot of each page is saved
under ``_build/screenshots/`` (ignored by git).

The test skips only when Chromium or playwright is missing and ``FOCUSMIM_REQUIRE_BROWSER``
is unset (``.ci/run`` sets it, so CI cannot skip). It builds the book once per session
(about 20 s), which is the CI's book build.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("FOCUSMIM_CHROMIUM", "/usr/lib/chromium/chromium")
WIDTH, HEIGHT = 1280, 900
PIPE_TABLE = re.compile(r"\|\s*:?(-{3,}|—)")  # a markdown table's separator row (or its em-dash remains)


def _toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]
    return [f"{f}.html" for f in files] + ["genindex.html", "search.html"]


PAGES = _toc_pages()


def _unavailable() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements.txt)"
    return None


@pytest.fixture(scope="module")
def site():
    """Build the book (as CI does: warnings are errors) and serve it; yields the base URL."""
    why = _unavailable()
    if why:
        if os.environ.get("FOCUSMIM_REQUIRE_BROWSER"):
            pytest.fail(f"FOCUSMIM_REQUIRE_BROWSER is set but {why}")
        pytest.skip(why)
    exe = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    t0 = time.perf_counter()
    res = subprocess.run([exe, "build", str(ROOT), "--warningiserror", "--keep-going", "-q"], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    print(f"\njupyter-book build: {time.perf_counter() - t0:.1f} s")
    assert res.returncode == 0, f"jupyter-book build failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield b
        b.close()


# --- what is measured inside the page -------------------------------------------------

IMAGE_STATS = """() => Array.from(document.querySelectorAll('img')).map(img => {
  const out = {src: img.getAttribute('src'), complete: img.complete, w: img.naturalWidth, h: img.naturalHeight};
  if (!img.complete || !img.naturalWidth) return out;
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let n = 0, s = 0, s2 = 0, ink = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] < 8) continue;                       // transparent
    const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    n++; s += y; s2 += y * y; if (y < 200) ink++;
  }
  out.n = n; out.std = n ? Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2)) : 0; out.ink = n ? ink / n : 0;
  return out;
})"""

OVERFLOW = """() => {
  const bad = [];
  const check = (el, what) => {
    if (el.scrollWidth > el.clientWidth + 1) {
      bad.push(`${what} <${el.tagName.toLowerCase()} class="${el.className}"> ${el.scrollWidth} px in ${el.clientWidth} px: ` +
               el.textContent.trim().slice(0, 80));
    }
  };
  check(document.documentElement, 'page');
  document.querySelectorAll('article.bd-article, main').forEach(el => check(el, 'content'));
  document.querySelectorAll('div.cell_output, div.cell_output pre, div.cell_output .output, article table').forEach(
    el => check(el, 'output'));
  document.querySelectorAll('div.cell_input pre, div.highlight pre').forEach(el => check(el, 'code'));
  return bad;
}"""

PIPE_TEXT = """() => Array.from(document.querySelectorAll('article pre, article p')).map(el => el.textContent)"""

PLOT_IMAGES = """(div) => Array.from(div.querySelectorAll('image')).map(im => im.getAttribute('href') ||
  im.getAttribute('xlink:href') || '').join('|')"""


def _open(browser, site, page_path):
    """Open a page, recording console errors, failed requests and requests to other hosts."""
    ctx = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    def request(r):
        if not r.url.startswith(site + "/") and not r.url.startswith(("data:", "blob:", "about:")):
            problems.append(f"request to another host: {r.url}")

    page.on("request", request)
    page.goto(f"{site}/{page_path}", wait_until="networkidle")
    page.wait_for_timeout(300)
    return ctx, page, problems


@pytest.mark.parametrize("page_path", PAGES)
def test_page(browser, site, page_path):
    ctx, page, problems = _open(browser, site, page_path)
    try:
        shot = SHOTS / (page_path.replace("/", "__").removesuffix(".html") + ".png")
        for im in page.evaluate(IMAGE_STATS):
            if not im["complete"] or not im["w"]:
                problems.append(f"image not loaded: {im['src']}")
            elif im["n"] and im["std"] < 3:
                problems.append(f"blank image (luminance std {im['std']:.1f}): {im['src']}")
            elif im["n"] and im["ink"] < 0.02:
                problems.append(f"washed-out image ({100 * im['ink']:.1f} % of pixels darker than white): "
                                f"{im['src']}")
        for text in page.evaluate(PIPE_TEXT):
            if PIPE_TABLE.search(text):
                problems.append(f"a table as text, not a <table>: {text.strip()[:120]!r}")
        problems += page.evaluate(OVERFLOW)
        problems += _sliders_move(page)
        # back to the top, no focus: the sticky header and skip link stay out of the shot
        page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        # the whole page in one viewport as tall as the page: Chromium's full_page capture drew chapter 5's page
        # shifted left, its sidebar gone, once a plotly slider had moved (the page itself, measured, was not)
        page.set_viewport_size({"width": WIDTH, "height": page.evaluate("document.documentElement.scrollHeight")})
        page.wait_for_timeout(300)
        page.screenshot(path=str(shot))  # after the sliders moved: shows their last frames
    finally:
        ctx.close()
    assert not problems, f"{page_path}:\n" + "\n".join(problems)


def _sliders_move(page) -> list[str]:
    """Move every plotly slider to its last step; the figure's images must change."""
    bad = []
    for i, plot in enumerate(page.query_selector_all("div.js-plotly-plot")):
        rails = plot.query_selector_all("rect.slider-rail-rect")
        for rail in rails:
            plot.scroll_into_view_if_needed()
            before = page.evaluate(PLOT_IMAGES, plot)
            box = rail.bounding_box()
            if box is None:
                bad.append(f"plotly figure {i}: slider not visible")
                continue
            page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
            page.wait_for_timeout(400)
            after = page.evaluate(PLOT_IMAGES, plot)
            if not before or before == after:
                bad.append(f"plotly figure {i}: moving its slider did not change the figure")
    return bad
