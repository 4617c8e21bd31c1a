"""The built book in a real browser: headless Chromium opens every page of ``_build/html`` from
disk, with no network, runs its scripts, and the rendered page is checked. Math is rendered
from the book's own MathJax (no raw TeX delimiters left, MathJax's output present where there
is math); every internal link, anchor and image resolves; every image has alt text of words,
not a file name or path (which is what myst-nb gives a figure drawn by a code cell whose
metadata sets no ``mystnb.image.alt``; tests/test_book.py checks the notebooks for it); and
every solution dropdown has the toggle button that opens it, is hidden, and is shown once that
button is clicked (a real click, through Chromium's DevTools protocol: ``devtools.py``).

Skipped, with the reason, where Chromium is not installed (Debian: ``apt-get install
chromium``; ``.ci/run`` installs it) or the book is not built (``make book``); ``.ci/run`` runs
it after building the book.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from devtools import Chromium

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGES = sorted(HTML.glob("book/*.html"))     # _build/html/index.html only redirects to these

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get "
                       "install chromium); the browser check is skipped"),
    pytest.mark.skipif(not PAGES, reason="the book is not built (make book); the browser "
                       "check is skipped"),
]


def visible_text(dom: str) -> str:
    """The page's text, without scripts, styles and MathJax's own markup."""
    dom = re.sub(r"<(script|style|mjx-container)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"<[^>]+>", " ", dom)


def describes(alt: str) -> bool:
    """Whether an image's alt text is words (at least two), not a file name or path."""
    alt = alt.strip()
    return (len(alt.split()) >= 2 and "/" not in alt
            and not re.search(r"\.(png|svg|jpe?g|gif)\b", alt, flags=re.I))


def local_targets(dom: str, page: Path, attribute: str, tag: str) -> list[tuple[Path, str]]:
    """(file, anchor) of every ``attribute`` of ``tag`` that points inside the built book."""
    targets = []
    for value in re.findall(rf"<{tag}\b[^>]*\b{attribute}=\"([^\"]*)\"", dom):
        url = urlparse(value)
        if url.scheme in ("http", "https", "mailto", "data", "javascript") or not value:
            continue
        path = (page.parent / unquote(url.path)).resolve() if url.path else page
        targets.append((path, url.fragment))
    return targets


# Waits for MathJax's first typesetting, keeps the DOM, then clicks every solution's toggle
# button; answers {dom, clicks: [[id, had a button, shown before, shown after], ...]}.
LOAD_AND_CLICK = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const dom = document.documentElement.outerHTML;
  const shown = (solution) => [...solution.children].some((child) =>
      !child.classList.contains("admonition-title") && child.getBoundingClientRect().height > 0);
  const clicks = [];
  for (const solution of document.querySelectorAll("div.solution.dropdown")) {
    const button = solution.querySelector("button.toggle-button");
    const before = shown(solution);
    if (button) button.click();
    await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 50)));
    clicks.push([solution.id, button !== null, before, shown(solution)]);
  }
  return {dom, clicks};
})()
"""


@pytest.fixture(scope="module")
def browser():
    chromium = Chromium(CHROMIUM)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def visits() -> dict[Path, dict]:
    return {}


def _visit(visits: dict, browser: Chromium, page: Path) -> dict:
    """The page opened once in the browser: its DOM after its scripts ran, and the clicks."""
    if page not in visits:
        browser.open(page)
        visits[page] = browser.evaluate(LOAD_AND_CLICK)
    return visits[page]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_math_is_rendered_offline(page, visits, browser):
    dom = _visit(visits, browser, page)["dom"]
    text = visible_text(dom)
    raw = [delimiter for delimiter in ("\\(", "\\[", "$$") if delimiter in text]
    assert not raw, f"raw TeX delimiters {raw} left on {page.name}"
    if 'class="math' in page.read_text():
        assert "<mjx-container" in dom, f"no rendered math on {page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_links_and_images_resolve(page, visits, browser):
    dom = _visit(visits, browser, page)["dom"]
    for path, anchor in local_targets(dom, page, "href", "a"):
        assert path.exists(), f"{page.name}: link to missing {path.relative_to(HTML)}"
        if anchor and path.suffix == ".html":
            target = dom if path == page else path.read_text()
            assert f'id="{anchor}"' in target, f"{page.name}: no #{anchor} in {path.name}"
    for path, _ in local_targets(dom, page, "src", "img"):
        assert path.exists(), f"{page.name}: missing image {path}"
    for image in re.findall(r"<img\b[^>]*>", dom):
        alt = re.search(r'\balt="([^"]*)"', image)
        assert alt and describes(alt.group(1)), f"{page.name}: no descriptive alt text: {image}"


@pytest.mark.parametrize("page", [p for p in PAGES if p.stem[:2].isdigit()],
                         ids=lambda p: p.stem)
def test_solution_dropdowns_open_when_clicked(page, visits, browser):
    """A real click, in the browser: each solution is hidden until its button is clicked, and
    shown after."""
    answers = _visit(visits, browser, page)["clicks"]
    assert len(answers) >= 3, f"{page.name}: {len(answers)} solution dropdowns"
    for solution, has_button, before, after in answers:
        assert has_button, f"{page.name}: {solution} has no toggle button"
        assert not before, f"{page.name}: {solution} is shown before any click"
        assert after, f"{page.name}: {solution} stays hidden after its button is clicked"
