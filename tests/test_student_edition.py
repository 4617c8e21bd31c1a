"""The student edition (``make student``, ``.ci/student_edition.py``): every chapter with its
exercises and without their solutions. Each student notebook must run top to bottom, and no
solution, code or explanation, may be left in it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "student_edition.py"
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
spec = importlib.util.spec_from_file_location("student_edition", SCRIPT)
student_edition = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_edition)


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    """The student edition, made by the script as ``make student`` makes it."""
    out = tmp_path_factory.mktemp("student")
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True)
    return out / "book"


def _solution_pieces(cells: list[dict]) -> list[str]:
    """The lines of a chapter's solutions (code and explanation) that occur nowhere else in
    it and are longer than a few characters, read from the original between the markers."""
    inside_lines, outside_lines, inside = [], set(), False
    for cell in cells:
        for line in "".join(cell["source"]).splitlines():
            if student_edition.START in line:
                inside = True
            elif student_edition.END in line:
                inside = False
            elif inside:
                inside_lines.append(line.strip())
            else:
                outside_lines.add(line.strip())
    return [line for line in inside_lines if len(line) > 12 and line not in outside_lines
            and not line.startswith((":", "```"))]


def test_every_chapter_is_in_the_edition(edition):
    assert sorted(p.name for p in edition.glob("*.ipynb")) == [p.name for p in CHAPTERS]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_solution_is_left(path, edition):
    original = json.loads(path.read_text())
    student = json.loads((edition / path.name).read_text())
    text = "\n".join("".join(c["source"]) for c in student["cells"])
    assert student_edition.START not in text and student_edition.END not in text
    pieces = _solution_pieces(original["cells"])
    assert pieces, "the chapter has exercises with solutions"
    lines = {line.strip() for line in text.splitlines()}
    left = [piece for piece in pieces if piece in lines]
    assert not left, f"solution lines left in the student edition: {left[:3]}"
    exercises = sum("".join(c["source"]).count("```{exercise}") for c in original["cells"])
    assert text.count("```{exercise}") == exercises >= 3
    assert text.count(student_edition.ANSWER.strip()) == exercises
    assert all(not c.get("outputs") for c in student["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_student_notebook_runs(path, edition):
    notebook = nbformat.read(edition / path.name, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(edition)}}).execute()


def test_a_solution_without_its_end_is_refused():
    cells = [{"cell_type": "markdown", "metadata": {},
              "source": ["```{exercise}\nx\n```\n\n```{solution-start} ex\n:class: dropdown\n```"]}]
    with pytest.raises(ValueError, match="no {solution-end}"):
        student_edition.without_solutions(cells)
