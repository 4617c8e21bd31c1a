"""Write the book's index of the package's functions, ``book/functions.md``, from the package.

    python .ci/function_index.py          rewrite book/functions.md
    python .ci/function_index.py --check  exit 1 if it differs from what the package says

Every public function and class of every module in ``lmm_teach.__all__`` is listed with the
first sentence of its docstring and the chapter that derives it: the first "Chapter N" (or
"chapters N-M") its docstring names, else its module's. The tests run ``--check``, so the page
cannot fall behind the package.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import lmm_teach

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "book" / "functions.md"
CHAPTER = re.compile(r"[Cc]hapters? (\d+)")
HEADER = """# Index of the package's functions

Every public function and class of `lmm_teach`, module by module in the book's order, with
what it computes and the chapter that derives it. The package is the book's single source of
truth: each chapter imports what it explains, and each docstring names its chapter and its
equation. This page is written from the docstrings by `.ci/function_index.py`; the tests
check that it is current.
"""


def chapter_files() -> dict[int, str]:
    """Chapter number -> the notebook's name, such as 10 -> ``10_pls``."""
    return {int(p.stem[:2]): p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb")}


def markdown(text: str) -> str:
    """Sphinx roles as the book's Markdown writes them: :math:`x` as $x$, :func:`f` and its
    kin as `f`; a | escaped, since it would end a table cell."""
    text = re.sub(r":math:`([^`]*)`", lambda m: f"${m.group(1)}$", text)
    text = re.sub(r":(?:func|mod|class|meth|attr|data):`~?([^`]*)`", r"`\1`", text)
    return text.replace("|", "\\|")


def first_sentence(doc: str) -> str:
    """The docstring's first sentence, on one line ("et al." does not end it)."""
    text = " ".join(doc.split("\n\n")[0].split()).replace("et al. ", "et al.\u00a0")
    sentence = re.split(r"(?<=[a-z0-9)`])\. ", text + " ", maxsplit=1)[0].rstrip(". ")
    return markdown(sentence.replace("\u00a0", " ")) + "."


def chapter_of(doc: str, default: int | None) -> int | None:
    match = CHAPTER.search(doc)
    return int(match.group(1)) if match else default


def members(module) -> list[tuple[str, object]]:
    """The public functions and classes defined in ``module`` (not imported into it)."""
    return [(name, obj) for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", None) == module.__name__]


def module_section(name: str, files: dict[int, str]) -> list[str]:
    module = getattr(lmm_teach, name)
    default = chapter_of(module.__doc__ or "", None)
    lines = [f"## `lmm_teach.{name}`", "", "| name | what it does | chapter |", "|---|---|---|"]
    for member, obj in members(module):
        doc = inspect.getdoc(obj) or ""
        chapter = chapter_of(doc, default)
        link = f"{{doc}}`{files[chapter]}`" if chapter in files else ""
        lines.append(f"| `{member}` | {first_sentence(doc)} | {link} |")
    return lines + [""]


def page() -> str:
    files = chapter_files()
    modules = [name for name in lmm_teach.__all__
               if inspect.ismodule(getattr(lmm_teach, name))]
    body = [line for name in modules for line in module_section(name, files)]
    return HEADER + "\n" + "\n".join(body).rstrip() + "\n"


def main(check: bool) -> int:
    text = page()
    if check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is not current: run python .ci/function_index.py")
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
