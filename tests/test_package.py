"""The package's table of contents: every public module is exported and described."""

from pathlib import Path

import pytest

import lmm_teach

MODULES = sorted(p.stem for p in Path(lmm_teach.__file__).parent.glob("*.py")
                 if not p.stem.startswith("_"))


@pytest.mark.parametrize("module", MODULES)
def test_every_module_is_exported_and_listed_in_the_docstring(module):
    assert module in lmm_teach.__all__
    assert f"``lmm_teach.{module}``" in lmm_teach.__doc__
