"""Keep the book's repository address in one place: ``repository.url`` in ``_config.yml``.

The launch buttons read it from there. The first code cell of every chapter installs
``lmm_teach`` from the same address when it is missing (Colab, Binder); a notebook opened alone
cannot read ``_config.yml``, so this script writes the address into those cells.

    python .ci/repository_url.py          rewrite the install cells from _config.yml
    python .ci/repository_url.py --check  exit 1 if any install cell differs (the tests run this)

Only the cells' source changes; their outputs stay as they are.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
INSTALL = re.compile(r"git\+https?://[^\"'\s]+")


def repository_url() -> str:
    """``repository.url`` of ``_config.yml``."""
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def install_cell(notebook: dict) -> dict:
    """The first code cell, which must install lmm_teach from the repository."""
    cell = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    if not INSTALL.search("".join(cell["source"])):
        raise SystemExit("the first code cell does not install lmm_teach from git+https://...")
    return cell


def main(check: bool) -> int:
    wanted, stale = f"git+{repository_url()}", []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        cell = install_cell(notebook)
        source = "".join(cell["source"])
        if INSTALL.search(source).group(0) == wanted:
            continue
        stale.append(path.name)
        if not check:
            cell["source"] = INSTALL.sub(wanted, source).splitlines(keepends=True)
            path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    if stale:
        print(("differ from" if check else "rewritten from") + f" _config.yml: {stale}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv[1:]))
