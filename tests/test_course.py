"""The course page (book/course.md): 10 to 12 sessions that cover every chapter, with
exercises that exist, each used once, and a learning objective for every chapter."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "book" / "course.md").read_text()
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def _labels() -> set[str]:
    labels = set()
    for chapter in CHAPTERS:
        cells = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())["cells"]
        labels |= set(re.findall(r":label: (ex-[\w-]+)", "".join(
            "".join(c["source"]) for c in cells)))
    return labels


def _sessions() -> list[str]:
    return re.findall(r"^\| (\d+) \|.*$", PAGE, flags=re.MULTILINE)


def test_ten_to_twelve_sessions():
    assert 10 <= len(_sessions()) <= 12
    assert [int(s) for s in _sessions()] == list(range(1, len(_sessions()) + 1))


def test_every_chapter_is_read_and_has_an_objective():
    table = "\n".join(re.findall(r"^\| \d+ \|.*$", PAGE, flags=re.MULTILINE))
    objectives = PAGE.split("## What each chapter should leave behind")[1]
    for chapter in CHAPTERS:
        assert f"{{doc}}`{chapter}`" in objectives, chapter
        if chapter != "19_fast_engine":               # optional reading, said so below
            assert f"{{doc}}`{chapter}`" in table, chapter
    assert "{doc}`19_fast_engine` is optional reading" in PAGE


def test_exercises_exist_and_each_is_used_once():
    refs = re.findall(r"\{ref\}`(\d+)\.(\d+) <ex-ch(\d+)-(\d+)>`", PAGE)
    assert all((shown_chapter, shown_k) == (chapter, k)             # "2.1" is ex-ch2-1
               for shown_chapter, shown_k, chapter, k in refs)
    assert len(refs) == PAGE.count("{ref}`")                         # every ref so written
    used = [f"ex-ch{chapter}-{k}" for _, _, chapter, k in refs]
    assert set(used) <= _labels(), set(used) - _labels()
    assert len(used) == len(set(used))
    assert len(used) >= 2 * len(_sessions())


def test_the_page_is_in_the_table_of_contents():
    assert "file: book/course" in (ROOT / "_toc.yml").read_text()


def test_the_function_index_is_current():
    """book/functions.md is what .ci/function_index.py writes from the package now."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / ".ci" / "function_index.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_glossary_term_names_its_chapter():
    text = (ROOT / "book" / "glossary.md").read_text()
    entries = re.split(r"\n\n(?=\S)", text.split("```{glossary}")[1].split("\n```")[0].strip())
    assert len(entries) >= 20
    for entry in entries:
        docs = re.findall(r"\{doc\}`(\d\d_\w+)`", entry)
        assert docs and set(docs) <= set(CHAPTERS), entry.splitlines()[0]
    toc = (ROOT / "_toc.yml").read_text()
    assert "file: book/glossary" in toc and "file: book/functions" in toc
