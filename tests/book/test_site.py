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
- the math of the page's source is in the HTML in the form MathJax typesets.

The test machine has no internet. Requests to any other host than the local
server (the MathJax and thebe CDNs, fonts, ...) are aborted, and console
errors that only report those aborted loads are ignored. MathJax therefore
never runs here: the math test checks the ``\\(...\\)`` / ``\\[...\\]`` source
that MathJax would typeset, not the typeset result.

A full-page screenshot of each page is saved to
``_build/screenshots/<page-name>.png`` for a human look.

Run: ``bash scripts/test tests/book/test_site.py`` (it installs a Chromium when
none is found and it can), or ``python -m pytest tests/book/test_site.py``.
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
CHAPTERS = PAGES[1:]


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


class _LinksAndIds(HTMLParser):
    """Collects a page's ``href`` values (any element) and ``id`` values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "href" and value is not None:
                self.hrefs.append(value)
            elif name == "id" and value:
                self.ids.add(value)


@dataclass
class HtmlFile:
    """The links and the anchors of one HTML file of the built site."""

    hrefs: list[str]
    ids: set[str]


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
        parser = _LinksAndIds()
        parser.feed((HTML / path).read_text(encoding="utf-8"))
        parser.close()
        return HtmlFile(parser.hrefs, parser.ids)

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
    display_math: list[str] = field(default_factory=list)  # div.math texts
    inline_math: list[str] = field(default_factory=list)  # span.math texts


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
        context = browser.new_context(viewport={"width": 1280, "height": 900})
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
            result.display_math = page.locator(f"{ARTICLE} div.math").all_text_contents()
            result.inline_math = page.locator(f"{ARTICLE} span.math").all_text_contents()
            page.screenshot(path=str(SCREENSHOTS / f"{_page_id(docname)}.png"), full_page=True)
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
def test_page_math_is_in_the_html_ready_for_mathjax(docname: str, visit) -> None:
    """Each $$...$$ and $...$ of the source is a MathJax-ready math element."""
    display, inline = _source_math(_source(docname))
    if not display and not inline:
        pytest.skip("no $-math in the page's source")
    v = visit(docname)
    # Sphinx writes $$x$$ as <div class="math">\[x\]</div> (an equation
    # number span may come first; blank-line-separated parts are aligned) and
    # $x$ as <span class="math">\(x\)</span>. MathJax, a CDN script blocked
    # here, would typeset those in a browser that is online.
    shown_display = [_nospace(t) for t in v.display_math]
    shown_inline = [_nospace(t) for t in v.inline_math]
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
