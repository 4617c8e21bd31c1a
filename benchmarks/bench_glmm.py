"""Time GLMM fits by lmm_teach's fit_glmm against lme4's glmer, measured in one run.

    .venv/bin/python benchmarks/bench_glmm.py            # every workload
    .venv/bin/python benchmarks/bench_glmm.py --only verbagg

The target (issue 9): a binomial GLMM with two crossed factors and about 7,500 rows fits in
less time than lme4's glmer. That is VerbAgg (lme4's data, 7,584 rows, 316 persons crossed
with 24 items), shipped with the package. Every time is from the data frame in memory to the
fitted result: lmm_teach in this process (``fit_glmm``, its standard errors included), lme4
inside R (``glmer_fit.R``: only the ``glmer`` call, with its defaults, which also compute the
Hessian for the standard errors). Each reports the median of 5 fits after an untimed warm-up.
Both fits are also compared: log-likelihood (on the Laplace scale, where lme4's factor from an
earlier PIRLS iterate moves its value by a few thousandths; chapter 21) and theta.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import lmm_teach
from lmm_teach import data

import common

HERE = Path(__file__).resolve().parent
GLMER_SCRIPT = HERE / "glmer_fit.R"
REPEATS = 5


def simulated_binomial() -> pd.DataFrame:
    """A binomial GLMM like VerbAgg's shape, seeded: 300 subjects x 25 items, 7,500 rows."""
    rng = np.random.default_rng(9)
    subject, item = np.repeat(np.arange(300), 25), np.tile(np.arange(25), 300)
    x = rng.normal(size=subject.size)
    eta = -0.3 + 0.6 * x + rng.normal(0, 1.2, 300)[subject] + rng.normal(0, 0.5, 25)[item]
    return pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float), "x": x,
                         "subject": [f"s{s:03d}" for s in subject],
                         "item": [f"i{i:02d}" for i in item]})


def verbagg() -> pd.DataFrame:
    frame = data.load_verbagg()
    return frame.assign(r2=(frame["r2"] == "Y").astype(float))


WORKLOADS = {
    "verbagg": ("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", verbagg,
                "binomial", 1),
    "binomial_sim": ("y ~ x + (1 | subject) + (1 | item)", simulated_binomial, "binomial", 1),
    "grouseticks": ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                    data.load_grouseticks, "poisson", 1),
    "cbpp_nagq25": ("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                    data.load_cbpp, "binomial", 25),
}


def run_glmer(formula: str, frame: pd.DataFrame, family: str, nagq: int) -> dict:
    """lme4's glmer fit, timed in R (median of REPEATS after a warm-up)."""
    columns = [c for c in frame.columns if c in formula]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "data.csv")
        frame[columns].to_csv(path, index=False)
        call = ["Rscript", str(GLMER_SCRIPT), path, formula, family, str(nagq),
                ",".join(common.factor_columns(frame[columns])), str(REPEATS)]
        done = subprocess.run(call, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"glmer_fit.R failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_ours(formula: str, frame: pd.DataFrame, family: str, nagq: int
             ) -> tuple[float, lmm_teach.GlmmFit]:
    """fit_glmm's median seconds over REPEATS fits after a warm-up, and the fit."""
    fit = lmm_teach.fit_glmm(formula, frame, family, nagq)
    seconds = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fit = lmm_teach.fit_glmm(formula, frame, family, nagq)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS))
    names = parser.parse_args().only or list(WORKLOADS)
    missing = common.lme4_missing()
    print(common.machine())
    if missing:
        print(missing)
    print(f"\n{'workload':<14} {'n':>6} {'lmm_teach s':>12} {'glmer s':>9} {'ratio':>7} "
          f"{'loglik ours':>13} {'loglik lme4':>13} {'max theta diff':>15}")
    for name in names:
        formula, make, family, nagq = WORKLOADS[name]
        frame = make()
        ours, fit = run_ours(formula, frame, family, nagq)
        if missing:
            print(f"{name:<14} {fit.nobs:>6} {ours:>12.3f}")
            continue
        lme4 = run_glmer(formula, frame, family, nagq)
        theta_diff = np.max(np.abs(fit.theta - lme4["theta"]) / np.maximum(lme4["theta"], 1e-3))
        print(f"{name:<14} {fit.nobs:>6} {ours:>12.3f} {lme4['seconds']:>9.3f} "
              f"{ours / lme4['seconds']:>7.2f} {fit.loglik:>13.4f} {lme4['loglik']:>13.4f} "
              f"{theta_diff:>14.1e}")
    print("\nratio = lmm_teach / glmer (below 1: lmm_teach is faster). For nagq > 1 lme4's "
          "loglik leaves out the saturated model's (chapter 21).")


if __name__ == "__main__":
    main()
