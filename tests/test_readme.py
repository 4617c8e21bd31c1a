"""The README's Python examples run as written, in order, in one namespace: a reader who
copies them meets no error."""

import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 2


def test_the_readme_examples_run():
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for block in BLOCKS:
            exec(compile(block, "README.md", "exec"), namespace)
    assert "fit" in namespace
