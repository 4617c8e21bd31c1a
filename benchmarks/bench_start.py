"""Evaluations of the profiled deviance from each start: lme4's T_i = I and lmm_teach's default.

For each workload, ``optimize_theta(design, True, start=...)`` with the fast engine, from
``start="lme4"`` (T_i = I, as lme4) and from ``start="separate"`` (the default: T_i = I or each
term fitted alone, whichever has the lower deviance, used when the terms after the first have
at least 100 random effects). Prints the evaluations of the model's deviance, the cheap ones
of the separate fits, the seconds of the optimizer and the REML criteria. Counts depend on
rounding (a different machine takes a somewhat different path); they are printed here, never
in the book.

    .venv/bin/python benchmarks/bench_start.py                 # every simulated workload
    .venv/bin/python benchmarks/bench_start.py --only insteval_sim --only insteval
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

from lmm_teach.design import model_matrices  # noqa: E402
from lmm_teach.optimizer import optimize_theta  # noqa: E402


def from_each_start(formula: str, data) -> list[list[str]]:
    """One row per start: evaluations (model, separate fits), optimizer seconds, REML."""
    design = model_matrices(formula, data)
    design.gram                                   # the Gram pass is not the optimizer's
    rows = []
    for start in ("lme4", "separate"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            began = time.perf_counter()
            optimum = optimize_theta(design, True, start=start)
            seconds = time.perf_counter() - began
        rows.append([start, str(optimum.n_evaluations), str(optimum.n_start_evaluations),
                     f"{seconds:.3g}", f"{optimum.deviance:.6f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", help="a workload name (repeatable)")
    args = parser.parse_args()
    names = args.only or [name for name, w in WORKLOADS.items() if not w.real]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; known: {list(WORKLOADS)}")
    print(common.machine())
    body = []
    for name in names:
        formula, data = WORKLOADS[name].make()
        body += [[name, *row] for row in from_each_start(formula, data)]
    header = ["workload", "start", "evaluations", "separate-fit evaluations", "optimizer s",
              "REML criterion"]
    print("\n" + common.markdown_table(header, body))


if __name__ == "__main__":
    main()
