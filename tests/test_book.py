"""The book's chapters keep the house rules that a reader meets on every page.

Each chapter: its first code cell installs lmm_teach from the repository named in
``_config.yml`` (folded in the HTML); its code lines fit the page; it ends with a Summary and
then at least three Exercises; no stored output holds a third-party warning, whose wording
differs between machines and versions; and every figure a code cell draws carries a short
description for screen readers in the cell's ``mystnb.image.alt`` metadata (otherwise the HTML
gets the image's file name as its alt text).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
MAX_LINE = 88
MAX_ALT = 250


def _cells(path: Path, kind: str) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def _headings(path: Path) -> list[str]:
    text = "\n".join("".join(c["source"]) for c in _cells(path, "markdown"))
    return re.findall(r"^## (.+)$", text, flags=re.MULTILINE)


def test_there_are_chapters():
    assert len(CHAPTERS) >= 13


def test_install_cells_use_the_repository_of_config():
    result = subprocess.run([sys.executable, str(ROOT / ".ci" / "repository_url.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_folded_install_cell(path):
    first = _cells(path, "code")[0]
    assert "hide-input" in first["metadata"].get("tags", [])
    assert "pip" in "".join(first["source"])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_lines_fit_the_page(path):
    long = [line for cell in _cells(path, "code") for line in "".join(cell["source"]).split("\n")
            if len(line) > MAX_LINE]
    assert not long, f"{len(long)} code line(s) longer than {MAX_LINE} characters: {long[:3]}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_summary_then_exercises_at_the_end(path):
    headings = _headings(path)
    assert headings[-2:] == ["Summary", "Exercises"], headings
    text = "\n".join("".join(c["source"]) for c in _cells(path, "markdown"))
    assert text.count("```{exercise}") >= 3
    assert text.count("{solution-start}") == text.count("{solution-end}") >= 3


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_third_party_warning_in_stored_outputs(path):
    stderr = [output.get("text", "") for cell in _cells(path, "code")
              for output in cell.get("outputs", []) if output.get("name") == "stderr"]
    foreign = [text for text in map("".join, stderr) if "site-packages" in text]
    assert not foreign, foreign[:1]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_figure_has_alt_text(path):
    figures = [cell for cell in _cells(path, "code")
               if any(mime.startswith("image/") for output in cell.get("outputs", [])
                      for mime in output.get("data", {}))]
    for cell in figures:
        alt = cell["metadata"].get("mystnb", {}).get("image", {}).get("alt", "")
        where = f"cell {cell.get('id')}"
        assert alt.strip(), f"{where}: no mystnb.image.alt for its figure"
        assert not re.search(r"\.(png|svg)\b", alt, re.I) and "/" not in alt, (
            f"{where}: alt text looks like a file name: {alt}")
        assert len(alt) <= MAX_ALT, f"{where}: alt text of {len(alt)} > {MAX_ALT} characters"
