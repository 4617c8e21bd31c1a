"""The first cell of every chapter, which installs lmm_teach where it is missing (Colab;
Binder installs requirements.txt itself): run with a stand-in for ``import`` and for pip, it
does nothing where lmm_teach imports, and where it does not, installs it once from the
repository that _config.yml names, then imports it."""

from __future__ import annotations

import builtins
import json
import sys
import types
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
URL = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def _install_cell(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def _run(source: str, installed: bool) -> list[list[str]]:
    """Run the cell with lmm_teach importable or not (until pip has run); returns the
    commands it gave to subprocess.check_call."""
    calls, state = [], {"installed": installed}
    fake_subprocess = types.SimpleNamespace(
        check_call=lambda command: (calls.append(command), state.update(installed=True)))

    def fake_import(name, *args, **kwargs):
        if name == "lmm_teach":
            if not state["installed"]:
                raise ImportError("No module named 'lmm_teach'")
            return types.ModuleType("lmm_teach")
        if name == "subprocess":
            return fake_subprocess
        return builtins.__import__(name, *args, **kwargs)

    exec(source, {"__builtins__": {**vars(builtins), "__import__": fake_import}})
    return calls


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_nothing_happens_where_lmm_teach_is_installed(path):
    assert _run(_install_cell(path), installed=True) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_it_installs_from_the_configured_repository_where_missing(path):
    calls = _run(_install_cell(path), installed=False)
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", f"git+{URL}"]]


def test_binder_finds_the_requirements_that_install_the_package():
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert "-e ." in requirements and (ROOT / "pyproject.toml").exists()
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
