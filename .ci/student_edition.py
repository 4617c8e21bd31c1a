"""Make the student edition: every chapter with its exercises kept and their solutions removed.

    python .ci/student_edition.py [OUT]     (``make student``; OUT defaults to _student/)

Each chapter ends with exercises written as

    ```{exercise}                       <- kept: the exercise
    ```{solution-start} ex-...          <- from here
    ... code cells and markdown ...
    ```{solution-end}                   <- to here: removed

The solution's cells (code and explanation) are replaced by one empty code cell for the
student's answer, and every stored output is cleared, so that nothing of a solution survives
in an output either. The folder is written afresh and is not committed (``.gitignore``);
``tests/test_student_edition.py`` runs every student notebook and checks that no solution is
left in it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "```{solution-start}", "```{solution-end}"
ANSWER = "# Your answer here.\n"


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _cleared(cell: dict) -> dict:
    """The cell without outputs or execution counts (code) or unchanged (markdown)."""
    cell = dict(cell)
    if cell["cell_type"] == "code":
        cell["outputs"], cell["execution_count"] = [], None
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items()
                            if k != "execution"}
    return cell


def _answer_cell() -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": [ANSWER]}


def _with_text(cell: dict, text: str) -> dict:
    return {**cell, "source": text.splitlines(True)}


def without_solutions(cells: list[dict]) -> list[dict]:
    """The cells with every solution removed: an exercise's cell keeps its text up to
    ``{solution-start}``, followed by an empty answer cell; everything up to the closing
    ``{solution-end}`` is dropped, and what follows it in the same cell (often the next
    exercise) is read on as a cell of its own. Outputs are cleared; cells are numbered
    afresh."""
    kept, pending, in_solution = [], list(cells), False
    while pending:
        cell = pending.pop(0)
        text = _source(cell)
        if in_solution:
            if END in text:
                in_solution = False
                after = text.split(END, 1)[1]                  # "\n```\n..." closes it
                rest = after.split("```", 1)[1] if "```" in after else ""
                if rest.strip():
                    pending.insert(0, _with_text(cell, rest.lstrip("\n")))
        elif START in text:
            before, after = text.split(START, 1)
            kept += [_with_text(cell, before.rstrip() + "\n"), _answer_cell()]
            pending.insert(0, _with_text(cell, after))       # read on, inside the solution
            in_solution = True
        else:
            kept.append(_cleared(cell))
    if in_solution:
        raise ValueError("a {solution-start} has no {solution-end}")
    return [{**cell, "id": f"s{i:03d}"} for i, cell in enumerate(kept)]


def student_notebook(path: Path) -> dict:
    """The chapter at ``path`` as its student edition (a notebook dictionary)."""
    notebook = json.loads(path.read_text())
    try:
        notebook["cells"] = without_solutions(notebook["cells"])
    except ValueError as error:
        raise SystemExit(f"{path.name}: {error}") from None
    return notebook


def main(out: Path) -> int:
    """Write the student edition of every chapter to ``out`` (emptied first)."""
    if out.exists():
        shutil.rmtree(out)
    (out / "book").mkdir(parents=True)
    chapters = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    for path in chapters:
        text = json.dumps(student_notebook(path), indent=1, ensure_ascii=False) + "\n"
        (out / "book" / path.name).write_text(text)
    print(f"student edition: {len(chapters)} chapters in {out / 'book'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_student"))
