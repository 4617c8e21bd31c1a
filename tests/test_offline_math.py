"""The book renders its formulas from its own copy of MathJax, so that it reads offline:
``_config.yml`` points ``mathjax_path`` at a file that ships in ``book/mathjax`` with
MathJax's licence, in a static folder of its own (Jupyter Book 1 would inject every ``.js``
under ``_static`` into every page). tests/test_browser.py checks the rendered pages."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]


def test_mathjax_is_the_books_own_copy():
    path = CONFIG["mathjax_path"]
    assert not path.startswith(("http:", "https:", "//")), path
    folders = [ROOT / folder for folder in CONFIG["html_static_path"]]
    assert [folder for folder in folders if (folder / path).is_file()], path
    assert all(folder.name != "_static" for folder in folders)


def test_mathjax_ships_with_its_licence():
    folder = ROOT / "book" / "mathjax"
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert "MathJax" in (folder / CONFIG["mathjax_path"]).read_text()
