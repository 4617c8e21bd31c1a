"""Every unweighted reference model of the tests, timed by lmm_teach's default fit and by lme4.

The models are those of ``tests/test_blocked.py``'s list (lme4_reference.json,
lme4_formulas.json, lme4_optimum.json and lme4_extra.json): small data sets, many of them
fits on the boundary. Each is fitted by REML: ``lmm_teach.fit(formula, data)`` (median of 5
after a warm-up, in-process) and lme4's ``lmer`` (median of 5 after a warm-up, timed inside
R by ``lme4_fit.R``). The two are timed in turn, ``--rounds`` times (default 3), and the
ratio reported is the median of the rounds' ratios, with the times of that round: these fits
take milliseconds, and the speed of a shared machine drifts by more than that between one
measurement and the next. Grouping columns are passed as strings, so that R makes them
factors. Models with prior weights are skipped (``lme4_fit.R`` takes none). Needs Rscript
with lme4.

    .venv/bin/python benchmarks/bench_test_models.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

import common  # noqa: E402
from test_blocked import MODELS  # noqa: E402

import lmm_teach  # noqa: E402
from lmm_teach.design import model_matrices  # noqa: E402


def with_string_groups(formula: str, frame):
    """The data with every grouping column as strings (R then makes it a factor)."""
    frame = frame.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = model_matrices(formula, frame)
    for term in design.terms:
        for column in term.group.split(":"):
            if column in frame:
                frame[column] = frame[column].astype(str)
    return frame


def median_fit_seconds(formula: str, frame, repeats: int = 5) -> float:
    """Median seconds of ``lmm_teach.fit`` by REML, after one untimed fit."""
    seconds = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(repeats + 1):
            started = time.perf_counter()
            lmm_teach.fit(formula, frame)
            if i:
                seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def median_round(formula: str, frame, rounds: int) -> tuple[float, float]:
    """lmm_teach's and lme4's seconds in the round whose ratio is the median of ``rounds``
    rounds, each timing lmm_teach and then lme4."""
    pairs = [(median_fit_seconds(formula, frame),
              common.run_lme4(formula, frame, repeats=5)["seconds"]) for _ in range(rounds)]
    return sorted(pairs, key=lambda pair: pair[0] / pair[1])[len(pairs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    note = common.lme4_missing()
    if note:
        raise SystemExit(f"lme4 is needed: {note}")
    print(common.machine())
    print(f"{rounds} rounds per model; the median round's times")
    rows, seen = [], set()
    for name, formula, frame, weights, _ in MODELS:
        if weights is not None or (formula, name) in seen:
            continue
        seen.add((formula, name))
        frame = with_string_groups(formula, frame)
        ours, lme4 = median_round(formula, frame, rounds)
        rows.append([name, formula, f"{ours * 1000:.1f}", f"{lme4 * 1000:.1f}",
                     f"{ours / lme4:.2f}"])
    print("\n" + common.markdown_table(["model", "formula", "lmm_teach ms", "lme4 ms",
                                        "lmm_teach / lme4"], rows))
    ratios = [float(r[-1]) for r in rows]
    print(f"\n{len(rows)} models; lmm_teach / lme4: median {statistics.median(ratios):.2f}, "
          f"largest {max(ratios):.2f}")


if __name__ == "__main__":
    main()
