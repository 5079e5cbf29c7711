"""Browser test of the built book: what a reader of the HTML site gets.

The book is built once per session with ``jupyter-book build --all -W
--keep-going`` (every page re-read; a warning fails the build), served from
``_build/html`` on 127.0.0.1 and opened in headless Chromium driven by
Playwright (Playwright's own Chromium if it is installed, else a Chromium or
Chrome on the PATH: see :func:`find_chromium`). Every page in ``_toc.yml``
(the root page and each chapter) is visited once; the tests below then check,
per page:

- the book builds with no warning;
- every link to a page or file of the site leads to one that the build wrote,
  and every ``#anchor`` in such a link names an ``id`` in its page (read from
  the HTML files, no browser needed);
- no uncaught JavaScript error, no console error and no failed request that
  concerns the site itself;
- every ``<img>`` is served by the site and has decoded (``naturalWidth > 0``);
- a chapter shows at least as many images as its notebook has PNG outputs;
- a chapter has its "Launch on Colab" link, pointing at its notebook;
- the page has a non-empty ``<h1>`` title;
- the math of the page's source is in the HTML in the form MathJax typesets,
  and the site serves MathJax itself: no page loads a script from another
  host;
- MathJax has typeset every formula: no raw TeX (``\\(``, ``$$``,
  ``\\frac``, ...) is left in the visible text outside code, and every math
  element holds MathJax's ``<mjx-container>``;
- on a phone (a 390 px wide viewport) the page is no wider than the screen:
  wide tables, outputs and formulas scroll inside their own box
  (``_static/custom.css``);
- every figure of a chapter has alt text (not its file's path) and a
  ``<figcaption>``;
- the answer page (chapter 0) shows a table on its first 1280x800 screen.

The test machine has no internet. Requests to any other host than the local
server (thebe's CDN, Colab, ...) are aborted, and console errors that only
report those aborted loads are ignored. MathJax is served by the site
(``sphinx-mathjax-offline``, see ``_config.yml``), so it runs here as it does
for a reader, online or not.

A full-page screenshot of each page is saved to
``_build/screenshots/<page-name>.png``, and its first screen on the phone to
``<page-name>-phone.png``, for a human look.

Run: ``bash scripts/test tests/pages/test_site.py`` (it installs a Chromium when
none is found and it can), or ``python -m pytest tests/pages/test_site.py``.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
# Browsers on the PATH that Playwright can drive, in order of preference:
# Debian's and Ubuntu's Chromium, then Google Chrome (GitHub's runners).
SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
NO_CHROMIUM = (
    "No Chromium for the browser test: run `python -m playwright install "
    "--with-deps chromium`, or put chromium, chromium-browser, google-chrome or "
    "google-chrome-stable on the PATH (Debian: `apt-get install chromium`)."
)
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",  # closed network: no update pings
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COLAB_PREFIX = "https://colab.research.google.com/github/"

# sphinx-book-theme 1.3 markup: the page body is <article class="bd-article">
# inside <main id="main-content">. The header buttons (launch/Colab,
# repository, download) sit outside the article, and a print-only copy of the
# title (<div id="jb-print-docs-body">) sits outside it too.
ARTICLE = "article.bd-article"

# The screens a page is looked at on: a laptop's (the screenshots, and "the
# first screen" of a page) and a phone's (390 px, an iPhone's CSS width).
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


# --------------------------------------------------------------------------
# The pages: whatever _toc.yml lists.
# --------------------------------------------------------------------------


SOURCE_SUFFIXES = (".ipynb", ".md", ".rst")


def _toc_docnames() -> list[str]:
    """Docnames (paths without suffix) of the root and every toc entry."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "file" in node:
                names.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                walk(node.get(key))

    walk(toc)
    # A toc entry may or may not carry its file's suffix.
    return [
        str(Path(name).with_suffix("")) if Path(name).suffix in SOURCE_SUFFIXES else name
        for name in names
    ]


PAGES = _toc_docnames()
ROOT_PAGE = PAGES[0]
# The notebook pages: those with a Colab link, a notebook to download and
# figures from cell outputs. The API reference (api.md) is a page, not one.
CHAPTERS = [page for page in PAGES[1:] if (ROOT / f"{page}.ipynb").is_file()]


def _page_id(docname: str) -> str:
    return Path(docname).name


def _source(docname: str) -> Path:
    """The page's source file (a notebook or a Markdown file)."""
    for suffix in SOURCE_SUFFIXES:
        path = ROOT / f"{docname}{suffix}"
        if path.exists():
            return path
    pytest.fail(f"_toc.yml lists {docname!r} but no {docname}.ipynb/.md exists")


def _cells(source: Path) -> list[dict]:
    """The notebook's cells that the book shows (no `remove-cell` tag)."""
    cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
    return [
        c
        for c in cells
        if not {"remove-cell", "remove_cell"} & set(c.get("metadata", {}).get("tags", []))
    ]


def _expected_figures(source: Path) -> int:
    """PNG outputs of shown cells whose outputs are not removed."""
    count = 0
    for cell in _cells(source):
        meta = cell.get("metadata", {})
        if {"remove-output", "remove_output"} & set(meta.get("tags", [])):
            continue
        if meta.get("mystnb", {}).get("remove_code_outputs"):
            continue
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                count += 1
    return count


def _markdown_text(source: Path) -> str:
    """The page's Markdown prose, code blocks and inline code removed."""
    if source.suffix == ".ipynb":
        text = "\n\n".join(
            "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in _cells(source)
            if c["cell_type"] == "markdown"
        )
    else:
        text = source.read_text(encoding="utf-8")
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", text, flags=re.M | re.S)
    return re.sub(r"(`+).+?\1", "", text, flags=re.S)


# MyST dollarmath: $$...$$ is display math and $...$ inline math. The inline
# pattern is a conservative subset of what dollarmath accepts (no space just
# inside the dollars, no digit right after the closing one), so that prose
# such as "costs $5 and $10" is never taken for math the page must show.
DISPLAY_MATH = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$", re.S)
INLINE_MATH = re.compile(r"(?<![\\$])\$([^\s$](?:[^$]*?[^\s$\\])?)\$(?![$\d])")


def _source_math(source: Path) -> tuple[list[str], list[str]]:
    """Display and inline TeX of the page's prose."""
    text = _markdown_text(source)
    display = DISPLAY_MATH.findall(text)
    inline = [m for m in INLINE_MATH.findall(DISPLAY_MATH.sub("", text)) if "\n\n" not in m]
    return display, inline


def _nospace(tex: str) -> str:
    return "".join(tex.split())


# --------------------------------------------------------------------------
# Fixtures: build, serve, browse.
# --------------------------------------------------------------------------


def _say(request: pytest.FixtureRequest, message: str) -> None:
    """Print past pytest's output capture (a session fixture has no capsys)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(message)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{message}")


@dataclass
class Build:
    returncode: int
    log: str
    seconds: float
    started: float  # time.time() at the start, to tell fresh pages from stale ones

    def wrote(self, docname: str) -> bool:
        """Whether this build wrote the page (not a leftover of an older one)."""
        html = HTML / f"{docname}.html"
        return html.exists() and html.stat().st_mtime >= self.started - 1


@pytest.fixture(scope="session")
def build(request: pytest.FixtureRequest) -> Build:
    """`jupyter-book build --all -W --keep-going` of the repository."""
    # `python -m jupyter_book` has no __main__ in jupyter-book 1.x; call the
    # console script's entry point with this same interpreter instead.
    command = [
        sys.executable,
        "-c",
        "from jupyter_book.cli.main import main; main()",
        "build",
        str(ROOT),
        "--all",
        "-W",
        "--keep-going",
    ]
    started, start = time.time(), time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    _say(request, f"jupyter-book build: {seconds:.1f} s, exit code {result.returncode}")
    log = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # no colours
    return Build(result.returncode, log, seconds, started)


@pytest.fixture(scope="session")
def site(build: Build):
    """Base URL of `_build/html` served on 127.0.0.1 (a free port)."""
    # With --keep-going a build with warnings still writes every page, and
    # the pages are checked; a build that crashed leaves only stale HTML.
    if not build.wrote(ROOT_PAGE):
        pytest.fail("the book did not build: see test_book_builds_with_no_warnings")

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _SiteHtml(HTMLParser):
    """Collects a page's ``href`` values (any element), ``id`` values,
    ``<script src>`` values, and the text of the article's math elements as
    Sphinx wrote them (``div.math`` and ``span.math``, before MathJax)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.scripts: list[str] = []
        self.display_math: list[str] = []
        self.inline_math: list[str] = []
        self._open: list[tuple[str, str | None]] = []  # (tag, what it starts)
        self._math: list[str] | None = None  # the text of the math element open

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "href" and value is not None:
                self.hrefs.append(value)
            elif name == "id" and value:
                self.ids.add(value)
            elif name == "src" and tag == "script" and value:
                self.scripts.append(value)
        classes = (dict(attrs).get("class") or "").split()
        starts = None
        if tag == "article" and "bd-article" in classes:
            starts = "article"
        elif (
            tag in ("div", "span")
            and "math" in classes
            and self._math is None
            and any(opened == "article" for _, opened in self._open)
        ):
            starts = "display" if tag == "div" else "inline"
            self._math = []
        self._open.append((tag, starts))

    def handle_endtag(self, tag: str) -> None:
        # Pop up to the element this tag ends: elements with no end tag
        # (<img>, <br>, ...) go with their parent.
        if not any(opened_tag == tag for opened_tag, _ in self._open):
            return  # a stray end tag
        while self._open:
            opened_tag, starts = self._open.pop()
            if starts in ("display", "inline") and self._math is not None:
                text = "".join(self._math)
                (self.display_math if starts == "display" else self.inline_math).append(text)
                self._math = None
            if opened_tag == tag:
                return

    def handle_data(self, data: str) -> None:
        if self._math is not None:
            self._math.append(data)


@dataclass
class HtmlFile:
    """What one HTML file of the built site holds, read without a browser."""

    hrefs: list[str]  # links and anchors
    ids: set[str]
    scripts: list[str]  # <script src> values
    display_math: list[str]  # div.math texts in the article, as Sphinx wrote them
    inline_math: list[str]  # span.math texts in the article


@pytest.fixture(scope="session")
def html_file(build: Build):
    """html_file(path) -> HtmlFile of ``_build/html/<path>``, parsed once;
    None when this build did not write that file (missing or stale)."""
    if not build.wrote(ROOT_PAGE):
        pytest.fail("the book did not build: see test_book_builds_with_no_warnings")

    @functools.cache
    def parse(path: str) -> HtmlFile | None:
        if not build.wrote(str(PurePosixPath(path).with_suffix(""))):
            return None
        parser = _SiteHtml()
        parser.feed((HTML / path).read_text(encoding="utf-8"))
        parser.close()
        return HtmlFile(
            parser.hrefs, parser.ids, parser.scripts, parser.display_math, parser.inline_math
        )

    return parse


def _site_target(page: str, href: str) -> tuple[str, str] | None:
    """The file (relative to ``_build/html``) and the anchor that ``href``,
    found in ``page``, points at; None for a link to another site (any URL
    with a scheme or a host: ``https:``, ``mailto:``, ``javascript:``, ...).
    A target outside the site starts with ``..`` (above it) or ``/`` (from
    the host's root)."""
    url = urlsplit(href)
    if url.scheme or url.netloc:
        return None
    path, anchor = unquote(url.path), unquote(url.fragment)
    if not path:
        return page, anchor
    if path.startswith("/"):
        return path, anchor
    target = PurePosixPath(os.path.normpath(PurePosixPath(page).parent / path))
    if path.endswith("/") or (HTML / target).is_dir():
        target /= "index.html"
    return target.as_posix(), anchor


def _playwright_chromium() -> Path:
    """Where Playwright's own Chromium is, once `playwright install`ed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        return Path(playwright.chromium.executable_path)


def find_chromium() -> str | None:
    """The Chromium the browser test drives, or None when there is none.

    Playwright's own build (``python -m playwright install chromium``, the
    revision the pinned ``playwright`` is made for) when it is installed,
    else the first of :data:`SYSTEM_CHROMIUMS` on the PATH. ``scripts/test``
    asks this function too before it installs one.
    """
    bundled = _playwright_chromium()
    if bundled.is_file():
        return str(bundled)
    return next(filter(None, map(shutil.which, SYSTEM_CHROMIUMS)), None)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (see :func:`find_chromium`), driven by Playwright."""
    chromium = find_chromium()
    if chromium is None:
        pytest.fail(NO_CHROMIUM, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """What one page load showed."""

    url: str
    site: str
    errors: list[str] = field(default_factory=list)  # JS and console errors, local
    failed: list[str] = field(default_factory=list)  # local requests that failed
    images: list[dict] = field(default_factory=list)  # every <img> on the page
    article_images: int = 0
    colab_links: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)  # <h1> texts in the article
    # After MathJax: the visible text of the article outside code, one string
    # per text node; the math elements MathJax left untypeset (their text);
    # the formulas it typeset and those it marked as errors.
    visible_text: list[str] = field(default_factory=list)
    untypeset_math: list[str] = field(default_factory=list)
    typeset_math: int = 0
    math_errors: list[str] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)  # the article's <img>, see _FIGURES_JS
    # The first rows of the article's tables that the first DESKTOP screen shows.
    first_screen_advice: list[str] = field(default_factory=list)
    # At the PHONE viewport: the page's width, and what sticks out if too wide.
    phone_width: int = 0
    phone_overflow: list[str] = field(default_factory=list)


# Waits for every image, lazy ones included, to finish loading or failing.
_IMAGES_JS = """async () => {
    const images = Array.from(document.images);
    images.forEach(img => { if (img.loading === 'lazy') img.loading = 'eager'; });
    await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
        img.addEventListener('load', done); img.addEventListener('error', done);
        setTimeout(done, 5000);
    })));
    return images.map(img => ({
        src: img.getAttribute('src'), url: img.currentSrc || img.src,
        complete: img.complete, naturalWidth: img.naturalWidth,
    }));
}"""


# Waits for MathJax's first typesetting, when the page loads MathJax (10 s at
# most: a MathJax that never finishes leaves its TeX, which the tests report).
_MATHJAX_DONE_JS = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        const tenSeconds = new Promise(done => setTimeout(done, 10000));
        await Promise.race([MathJax.startup.promise, tenSeconds]);
    }
}"""

# The article, after MathJax: its visible text outside code, and its math
# elements.
_MATH_JS = """(article) => {
    const root = document.querySelector(article);
    if (!root) return {text: [], untypeset: [], typeset: 0, errors: []};
    const code = 'pre, code, kbd, samp, script, style, textarea, mjx-container';
    const text = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!parent || parent.closest(code) || !node.data.trim()) continue;
        if (!parent.checkVisibility({visibilityProperty: true})) continue;
        text.push(node.data);
    }
    const maths = Array.from(root.querySelectorAll('.math'));
    return {
        text: text,
        untypeset: maths.filter(m => !m.querySelector('mjx-container'))
            .map(m => m.textContent.trim()),
        typeset: root.querySelectorAll('mjx-container').length,
        errors: Array.from(root.querySelectorAll('mjx-merror, [data-mjx-error]'))
            .map(e => e.getAttribute('data-mjx-error') || e.textContent),
    };
}"""

# The article's images (not logos or icons), with their alt text and the
# caption of the <figure> they are in, if any.
_FIGURES_JS = """(article) => Array.from(document.querySelectorAll(article + ' img'))
    .filter(img => !img.closest('.logo, [class*="icon"]')
        && !/logo|icon/i.test(img.className))
    .map(img => {
        const figure = img.closest('figure');
        const caption = figure && figure.querySelector('figcaption');
        return {
            src: img.getAttribute('src'), alt: img.getAttribute('alt'),
            figure: figure !== null,
            caption: caption ? caption.textContent.replace(/#$/, '').trim() : null,
        };
    })"""

# The article's paragraphs and list items that give advice ("Advice: ...")
# and start on the first screen (at scroll 0).
_FIRST_SCREEN_ADVICE_JS = """(article) => Array.from(
        document.querySelectorAll(article + ' li, ' + article + ' p'))
    .filter(block => {
        if (!block.textContent.includes('Advice:')) return false;
        const box = block.getBoundingClientRect();
        return box.height > 0 && box.top >= 0 && box.top < window.innerHeight;
    })
    .map(block => block.textContent.replace(/\\s+/g, ' ').trim())"""

# The page's width (what a horizontal scroll would reach) and, if that is
# more than the viewport, the outermost visible elements that stick out of it
# with no scrolling or clipping box around them.
_WIDTH_JS = """() => {
    const width = document.documentElement.clientWidth;
    const scrollWidth = Math.max(
        document.documentElement.scrollWidth, document.body.scrollWidth);
    const outside = [];
    if (scrollWidth > width + 1) {
        for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 || box.right <= width + 1) continue;
            if (!el.checkVisibility({visibilityProperty: true})) continue;
            let contained = getComputedStyle(el).position === 'fixed';
            for (let up = el.parentElement; !contained && up && up !== document.body;
                 up = up.parentElement) {
                const style = getComputedStyle(up);
                if (style.overflowX !== 'visible' || style.position === 'fixed'
                    || up.getBoundingClientRect().right > width + 1) {
                    contained = true;  // clipped, fixed, or inside one listed
                    break;
                }
            }
            if (contained) continue;
            const name = el.tagName.toLowerCase() + (el.classList.length
                ? '.' + Array.from(el.classList).join('.') : '');
            outside.push(`${name} (${Math.round(box.width)} px to x=${Math.round(box.right)}): `
                + (el.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 60));
            if (outside.length === 5) break;
        }
    }
    return {width: scrollWidth, outside: outside};
}"""


@pytest.fixture(scope="session")
def visit(build: Build, site: str, browser):
    """visit(docname) -> Visit: loads the page once, screenshots it, caches."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    local_origin = urlsplit(site).netloc
    cache: dict[str, Visit] = {}

    def is_local(url: str) -> bool:
        return url.startswith("data:") or urlsplit(url).netloc == local_origin

    def load(docname: str) -> Visit:
        if docname in cache:
            return cache[docname]
        if not build.wrote(docname):
            pytest.fail(f"the build did not write {docname}.html")
        result = Visit(url=f"{site}{docname}.html", site=site)
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()

        # No internet here: abort every request to another host. Their
        # "Failed to load resource: net::ERR_FAILED" console errors are
        # reported at the external URL and ignored below.
        def route(r) -> None:
            if is_local(r.request.url):
                r.continue_()
            else:
                r.abort()

        def on_console(message) -> None:
            if message.type != "error":
                return
            where = message.location.get("url", "")
            if where and not is_local(where):
                return  # an aborted external load
            result.errors.append(f"console error at {where}: {message.text}")

        def on_response(response) -> None:
            if is_local(response.url) and response.status >= 400:
                result.failed.append(f"HTTP {response.status} {response.url}")

        def on_failed(request) -> None:
            if is_local(request.url):
                result.failed.append(f"{request.failure} {request.url}")

        page.route("**/*", route)
        page.on("pageerror", lambda error: result.errors.append(f"uncaught JS error: {error}"))
        page.on("console", on_console)
        page.on("response", on_response)
        page.on("requestfailed", on_failed)
        try:
            response = page.goto(result.url, wait_until="load")
            if response is None or not response.ok:
                result.failed.append(f"page itself: {response and response.status}")
            page.wait_for_load_state("networkidle")
            result.images = page.evaluate(_IMAGES_JS)
            result.article_images = page.locator(f"{ARTICLE} img").count()
            result.colab_links = page.eval_on_selector_all(
                f'a[href^="{COLAB_PREFIX}"]', "links => links.map(a => a.href)"
            )
            result.titles = [  # without the "#" permalink Sphinx appends
                t.strip().removesuffix("#").strip()
                for t in page.locator(f"{ARTICLE} h1").all_text_contents()
            ]
            page.evaluate(_MATHJAX_DONE_JS)
            math = page.evaluate(_MATH_JS, ARTICLE)
            result.visible_text = math["text"]
            result.untypeset_math = math["untypeset"]
            result.typeset_math = math["typeset"]
            result.math_errors = math["errors"]
            result.figures = page.evaluate(_FIGURES_JS, ARTICLE)
            result.first_screen_advice = page.evaluate(_FIRST_SCREEN_ADVICE_JS, ARTICLE)
            page.screenshot(path=str(SCREENSHOTS / f"{_page_id(docname)}.png"), full_page=True)
        finally:
            context.close()

        # The same page loaded afresh on a phone's screen (a resized page
        # would be caught mid-transition by the theme's sliding sidebars).
        context = browser.new_context(viewport=PHONE)
        try:
            page = context.new_page()
            page.route("**/*", route)
            page.goto(result.url, wait_until="load")
            page.wait_for_load_state("networkidle")
            page.evaluate(_MATHJAX_DONE_JS)  # typeset formulas have their width
            width = page.evaluate(_WIDTH_JS)
            result.phone_width = width["width"]
            result.phone_overflow = width["outside"]
            page.screenshot(path=str(SCREENSHOTS / f"{_page_id(docname)}-phone.png"))
        finally:
            context.close()
        cache[docname] = result
        return result

    return load


pages = pytest.mark.parametrize("docname", PAGES, ids=_page_id)
chapters = pytest.mark.parametrize("docname", CHAPTERS, ids=_page_id)


# --------------------------------------------------------------------------
# The tests.
# --------------------------------------------------------------------------


def test_book_builds_with_no_warnings(build: Build) -> None:
    """`jupyter-book build -W` succeeds: no Sphinx/MyST warning at all."""
    tail = "\n".join(build.log.splitlines()[-60:])
    assert build.returncode == 0, f"jupyter-book build -W failed:\n{tail}"
    warnings = [line for line in build.log.splitlines() if ": WARNING:" in line]
    assert not warnings, "\n".join(warnings)


@pages
def test_page_links_within_the_site_resolve(docname: str, html_file) -> None:
    """Every link to the site itself leads to a file that the build wrote,
    and its ``#anchor``, if any, to an ``id`` in that page. Links to other
    sites (Colab, GitHub, arXiv, ...) are not followed: the tests run offline.
    """
    page = f"{docname}.html"
    html = html_file(page)
    if html is None:
        pytest.fail(f"the build did not write {page}")
    problems = []
    for href in html.hrefs:
        target = _site_target(page, href)
        if target is None:
            continue
        path, anchor = target
        if path.startswith(".."):
            problems.append(f"{href!r} leaves the site")
        elif path.startswith("/"):
            # GitHub Pages serves a project's site under /<repository>/.
            problems.append(f"{href!r} starts at the host's root, not the site's")
        elif path.endswith(".html"):
            linked = html_file(path)
            if linked is None:
                problems.append(f"{href!r}: the build did not write {path}")
            elif anchor and anchor not in linked.ids:
                problems.append(f"{href!r}: no id={anchor!r} in {path}")
        elif not (HTML / path).is_file():
            problems.append(f"{href!r}: no file {path} in the site")
    assert not problems, "\n".join(problems)


def test_find_chromium_prefers_playwrights_own_then_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Playwright's installed Chromium first, then the PATH in the order of
    SYSTEM_CHROMIUMS, else None (checked on stand-in executables)."""
    bundled = tmp_path / "ms-playwright" / "chrome"
    monkeypatch.setitem(globals(), "_playwright_chromium", lambda: bundled)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    assert find_chromium() is None

    for name in ("google-chrome-stable", "chromium-browser"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    assert find_chromium() == str(bin_dir / "chromium-browser")

    bundled.parent.mkdir()
    bundled.write_text("")
    assert find_chromium() == str(bundled)


@pages
def test_page_has_no_javascript_or_console_errors(docname: str, visit) -> None:
    """No uncaught exception and no console.error from the site's own code."""
    errors = visit(docname).errors
    assert not errors, "\n".join(errors)


@pages
def test_page_requests_to_the_site_all_succeed(docname: str, visit) -> None:
    """Every local asset the page asks for (CSS, JS, images) is there."""
    failed = visit(docname).failed
    assert not failed, "\n".join(failed)


@pages
def test_page_images_are_local_and_all_load(docname: str, visit) -> None:
    """Every <img> comes from the site (or a data: URL) and decodes."""
    v = visit(docname)
    problems = [
        f"not served by the site: {img['url']}"
        for img in v.images
        if not img["url"].startswith(("data:", v.site))
    ] + [
        f"broken (naturalWidth 0): {img['src']}"
        for img in v.images
        if not img["complete"] or img["naturalWidth"] == 0
    ]
    assert not problems, "\n".join(problems)


@chapters
def test_chapter_shows_every_figure_of_its_notebook(docname: str, visit) -> None:
    """The article has an <img> per PNG output the notebook does not hide
    (`remove-cell` / `remove-output` tags)."""
    source = _source(docname)
    if source.suffix != ".ipynb":
        pytest.skip(f"{source.name} is not a notebook")
    expected = _expected_figures(source)
    shown = visit(docname).article_images
    assert shown >= expected, (
        f"{source.name} has {expected} PNG output(s) shown in the book, "
        f"the page's article has {shown} <img>"
    )


@chapters
def test_chapter_has_colab_link_to_its_notebook(docname: str, visit) -> None:
    """The launch (rocket) menu has a Colab link to chapters/<name>.ipynb.

    The link sits in a closed dropdown: it is in the DOM, not clicked.
    """
    links = visit(docname).colab_links
    wanted = f"/{docname}.ipynb"
    assert any(link.endswith(wanted) for link in links), (
        f"no <a href='{COLAB_PREFIX}...{wanted}'> on the page (found {links}); "
        "the launch button needs `repository.url` and `launch_buttons.colab_url` "
        "in _config.yml"
    )


@chapters
def test_chapter_offers_its_notebook_for_download(docname: str, html_file) -> None:
    """The download menu links the page's own .ipynb, and the build holds it."""
    page = f"{docname}.html"
    parsed = html_file(page)
    assert parsed is not None, f"the build did not write {page}"
    wanted = f"_sources/{docname}.ipynb"
    links = [href for href in parsed.hrefs if href.endswith(wanted)]
    assert links, f"no link to {wanted} on {page}"
    target = _site_target(page, links[0])
    assert target is not None and (HTML / target[0]).is_file(), f"{links[0]} is not in the build"


@pages
def test_page_has_a_title(docname: str, visit) -> None:
    """The article starts with a non-empty <h1>."""
    titles = visit(docname).titles
    assert titles and titles[0], f"no non-empty <h1> in {ARTICLE}"


@pages
def test_page_math_is_in_the_html_ready_for_mathjax(docname: str, html_file) -> None:
    """Each $$...$$ and $...$ of the source is a MathJax-ready math element."""
    display, inline = _source_math(_source(docname))
    if not display and not inline:
        pytest.skip("no $-math in the page's source")
    html = html_file(f"{docname}.html")
    assert html is not None, f"the build did not write {docname}.html"
    # Sphinx writes $$x$$ as <div class="math">\[x\]</div> (an equation
    # number span may come first; blank-line-separated parts are aligned) and
    # $x$ as <span class="math">\(x\)</span>, which MathJax then typesets
    # (test_page_math_is_typeset_offline). Read from the HTML file, as written.
    shown_display = [_nospace(t) for t in html.display_math]
    shown_inline = [_nospace(t) for t in html.inline_math]
    for tex in display:
        parts = [_nospace(part) for part in tex.split("\n\n") if part.strip()]
        assert any(
            "\\[" in shown and "\\]" in shown and all(p in shown for p in parts)
            for shown in shown_display
        ), f"display math $${tex}$$ is not in a div.math \\[...\\] block"
    for tex in inline:
        assert f"\\({_nospace(tex)}\\)" in shown_inline, (
            f"inline math ${tex}$ is not in a span.math \\(...\\)"
        )


@pages
def test_page_scripts_all_come_from_the_site(docname: str, html_file) -> None:
    """No <script src> names another host (a CDN), and a page with math
    loads the site's own MathJax: the book works offline."""
    page = f"{docname}.html"
    html = html_file(page)
    assert html is not None, f"the build did not write {page}"
    external = [src for src in html.scripts if _site_target(page, src) is None]
    assert not external, f"scripts from another host: {external}"
    if html.display_math or html.inline_math:
        mathjax = [src for src in html.scripts if "mathjax/" in src.lower()]
        assert mathjax, f"{page} has math but loads no _static/mathjax/ script"
        for src in mathjax:
            target = _site_target(page, src)
            assert target is not None and (HTML / target[0]).is_file(), f"{src} is not in the build"


# TeX that MathJax should have replaced: its delimiters \( \) \[ \], a $$,
# or a command such as \frac or \mathbf.
RAW_TEX = re.compile(r"\\[()\[\]]|\$\$|\\[A-Za-z]+")


@pages
def test_page_math_is_typeset_offline(docname: str, visit, html_file) -> None:
    """With no network, MathJax (served by the site) has typeset every
    formula: each math element holds an <mjx-container>, none is a MathJax
    error, and no raw TeX is left in the visible text outside code."""
    v = visit(docname)
    html = html_file(f"{docname}.html")
    assert html is not None
    if html.display_math or html.inline_math:
        assert v.typeset_math > 0, "the page has math but no <mjx-container>: MathJax did not run"
    problems = [f"not typeset: {text[:80]!r}" for text in v.untypeset_math]
    problems += [f"MathJax error: {error[:80]!r}" for error in v.math_errors]
    for text in v.visible_text:
        for match in RAW_TEX.finditer(text):
            around = text[max(0, match.start() - 30) : match.end() + 30]
            problems.append(f"raw TeX {match.group()!r} in the text: {around!r}")
    assert not problems, "\n".join(problems[:20])


@pages
def test_page_fits_a_phone_screen(docname: str, visit) -> None:
    """At a 390 px wide viewport the page is no wider than the screen: wide
    content scrolls inside its own box (_static/custom.css)."""
    v = visit(docname)
    limit = PHONE["width"] + 1  # a sub-pixel overhang is not a scroll
    assert v.phone_width <= limit, (
        f"the page is {v.phone_width} px wide at a {PHONE['width']} px viewport; "
        "sticking out: " + "; ".join(v.phone_overflow)
    )


# An alt text that is only a file's name or path, as MyST-NB writes for a
# notebook's image outputs (the reader learns nothing from it).
PATH_LIKE = re.compile(r"\S*[/\\]\S*|\S+\.(?:png|jpe?g|gif|svg|webp)", re.I)


@chapters
def test_chapter_figures_have_alt_text_and_a_caption(docname: str, visit) -> None:
    """Every image of the article (logos and icons aside) has an alt text
    that says something (not a file path) and sits in a <figure> with a
    non-empty <figcaption>."""
    figures = visit(docname).figures
    if not figures:
        pytest.skip("no image in the article")
    problems = []
    for figure in figures:
        alt = (figure["alt"] or "").strip()
        if not alt or PATH_LIKE.fullmatch(alt):
            problems.append(f"{figure['src']}: alt text {figure['alt']!r}")
        if not figure["figure"]:
            problems.append(f"{figure['src']}: not in a <figure>")
        elif not figure["caption"]:
            problems.append(f"{figure['src']}: its <figure> has no <figcaption> text")
    assert not problems, f"{len(figures)} image(s):\n" + "\n".join(problems)


ANSWER_PAGE = "chapters/00_when_does_gc_help"


def test_answer_page_gives_its_advice_on_its_first_screen(visit) -> None:
    """The answer page ("When does GC help?") answers at once: its advice for
    an optimizer starts on the first 1280x800 screen, unscrolled."""
    if ANSWER_PAGE not in CHAPTERS:
        pytest.fail(f"_toc.yml no longer lists {ANSWER_PAGE}")
    advice = visit(ANSWER_PAGE).first_screen_advice
    assert advice, (
        f"no advice starts within the first {DESKTOP['width']}x"
        f"{DESKTOP['height']} screen of {ANSWER_PAGE}.html"
    )
