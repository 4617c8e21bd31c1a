"""What the benchmark scripts share: lme4 through Rscript, engine detection, timing, the machine.

lme4 is timed inside R (``lme4_fit.R``): only the ``lmer`` call, not R's start-up or reading the
CSV. lmm_teach is timed in-process, from the data frame in memory to the fitted result.
"""

from __future__ import annotations

import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

import lmm_teach

HERE = Path(__file__).resolve().parent
LME4_SCRIPT = HERE / "lme4_fit.R"
RESULTS = HERE / "results"


# ---------------------------------------------------------------- lmm_teach's engines


def has_engine_argument() -> bool:
    """Whether ``lmm_teach.fit`` takes ``engine=`` (the fast engine has landed)."""
    return "engine" in inspect.signature(lmm_teach.fit).parameters


def fit_with(engine: str, formula: str, data: pd.DataFrame) -> Any:
    """``lmm_teach.fit(formula, data)`` by REML with ``engine`` ("fast" or "readable"). Before
    ``engine=`` existed the one engine was the readable one; "fast" then raises."""
    if has_engine_argument():
        return lmm_teach.fit(formula, data, reml=True, engine=engine)
    if engine == "readable":
        return lmm_teach.fit(formula, data, reml=True)
    raise RuntimeError("lmm_teach.fit has no engine= argument yet: no fast engine")


def fast_engine_parts() -> tuple[Callable, Callable] | None:
    """(``optimize_theta`` with engine="fast", ``blocked_deviance``), or None before they exist."""
    try:
        from lmm_teach.blocked import blocked_deviance
    except ImportError:
        return None
    from lmm_teach.optimizer import optimize_theta
    if "engine" not in inspect.signature(optimize_theta).parameters:
        return None
    return (lambda design, reml: optimize_theta(design, reml, engine="fast")), blocked_deviance


def q_of(formula: str, data: pd.DataFrame) -> int:
    """q, the number of random effects: the sum over terms of levels x columns."""
    design = lmm_teach.design.model_matrices(formula, data)
    return sum(len(t.levels) * t.k for t in design.terms)


# ---------------------------------------------------------------- timing


def timed(call: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """The median wall-clock seconds of ``repeats`` calls (one untimed warm-up call first when
    ``repeats > 1``) and the last call's result."""
    if repeats > 1:
        call()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def median_seconds(call: Callable[[], Any], budget: float = 2.0, at_least: int = 3,
                   at_most: int = 25) -> float:
    """Median seconds of a call repeated ``at_least`` times, more while under ``budget`` s."""
    seconds: list[float] = []
    spent = 0.0
    while len(seconds) < at_least or (spent < budget and len(seconds) < at_most):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
        spent += seconds[-1]
    return statistics.median(seconds)


def repeats_for(n: int) -> int:
    """Repeat small fits (median of 5 after a warm-up); time big ones once."""
    return 5 if n <= 10_000 else 1


# ---------------------------------------------------------------- lme4


def lme4_missing() -> str | None:
    """None when Rscript with lme4 is usable, else the reason it is not."""
    if shutil.which("Rscript") is None:
        return "Rscript not found: lme4 skipped"
    check = subprocess.run(["Rscript", "-e", "suppressMessages(library(lme4))"],
                           capture_output=True, text=True, timeout=120)
    if check.returncode != 0:
        return "R has no lme4 (library(lme4) failed): lme4 skipped"
    return None


def factor_columns(data: pd.DataFrame) -> list[str]:
    """The columns R must make factors: categoricals, strings and booleans."""
    return [c for c in data.columns
            if isinstance(data[c].dtype, pd.CategoricalDtype) or data[c].dtype == object
            or pd.api.types.is_string_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c])]


def run_lme4(formula: str, data: pd.DataFrame, repeats: int = 1,
             timeout: float = 1800) -> dict:
    """lme4's REML fit of ``formula`` to ``data`` (written to a temporary CSV), timed in R.

    Returns the JSON of ``lme4_fit.R``: seconds, reml, feval, theta, r_peak_mb, versions.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "data.csv")
        data.to_csv(path, index=False)
        call = ["Rscript", str(LME4_SCRIPT), path, formula, ",".join(factor_columns(data)),
                str(repeats)]
        done = subprocess.run(call, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"lme4_fit.R failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the machine


def _lscpu(field: str) -> str:
    """One field of ``lscpu`` ("" when lscpu is missing)."""
    if shutil.which("lscpu") is None:
        return ""
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def _ram_gib() -> float:
    """Total RAM in GiB, from /proc/meminfo."""
    with open("/proc/meminfo") as meminfo:
        kib = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    return kib / 2**20


def blas_name() -> str:
    """The BLAS numpy was built with, as numpy.show_config reports it."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    config = blas.get("openblas configuration", "")
    return f"{blas['name']} {blas.get('version', '')} {config}".strip()


def r_versions() -> str:
    """R's and lme4's versions and R's BLAS, or why they are unknown."""
    if lme4_missing():
        return "R/lme4: not available"
    code = ('cat(R.version.string, "| lme4", as.character(packageVersion("lme4")), '
            '"| BLAS", sessionInfo()$BLAS)')
    return subprocess.run(["Rscript", "-e", code], capture_output=True, text=True).stdout.strip()


def lmm_teach_source() -> str:
    """Where lmm_teach was imported from, with the git commit and whether lmm_teach/ has
    uncommitted changes there."""
    folder = Path(lmm_teach.__file__).resolve().parent
    git = ["git", "-C", str(folder)]
    head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return f"lmm_teach from {folder} (not a git checkout)"
    dirty = subprocess.run(git + ["status", "--porcelain", "."], capture_output=True,
                           text=True).stdout.strip()
    return (f"lmm_teach from {folder}, commit {head.stdout.strip()}"
            + (" + uncommitted changes" if dirty else ""))


def machine() -> str:
    """A few lines describing this machine and the software versions."""
    import scipy
    import statsmodels
    try:
        import nlopt
        nlopt_version = f", nlopt {nlopt.__version__}"
    except ImportError:
        nlopt_version = ""
    return "\n".join([
        f"CPU: {_lscpu('Model name')}, {os.cpu_count()} logical cores "
        f"({_lscpu('Hypervisor vendor') or 'bare metal'}), RAM {_ram_gib():.1f} GiB",
        f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pandas {pd.__version__}, statsmodels {statsmodels.__version__}, "
        f"lmm_teach {lmm_teach.__version__}{nlopt_version}",
        f"numpy BLAS: {blas_name()}",
        lmm_teach_source(),
        r_versions(),
        load_note(),
    ])


def load_note() -> str:
    """The 1-minute load average, with a warning when other work competes for the cores.

    On a loaded machine OpenBLAS's threads wait for each other and small dense factorizations
    slow down by up to 10 times; lme4 (R's reference BLAS here) is single-threaded. Run on an
    idle machine, or with OPENBLAS_NUM_THREADS=1.
    """
    load = os.getloadavg()[0]
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "not set")
    note = f"load average (1 min) at start: {load:.2f}; OPENBLAS_NUM_THREADS={threads}"
    if load > 0.5 * (os.cpu_count() or 1):
        note += " -- WARNING: the machine is busy, times will be noisy"
    return note


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def fmt_seconds(value: float | None) -> str:
    """Seconds with three significant digits, or '-'."""
    return "-" if value is None else f"{value:.3g}"
