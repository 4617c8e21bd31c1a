"""pytest configuration shared by the unit tests and nbval.

nbval resolves ``--nbval-sanitize-with`` against the current folder; making it absolute lets
``pytest`` run from any folder of the repository.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent


def pytest_configure(config):
    option = getattr(config.option, "nbval_sanitize_with", None)
    if option and not Path(option).is_absolute():
        config.option.nbval_sanitize_with = str(ROOT / option)
