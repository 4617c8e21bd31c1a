"""Time REML fits of each workload by lmm_teach (fast and readable), statsmodels and lme4.

    .venv/bin/python benchmarks/bench_models.py            # every workload (real ones need R)
    .venv/bin/python benchmarks/bench_models.py --quick    # the small ones
    .venv/bin/python benchmarks/bench_models.py --only insteval_sim --only million

Every time is from the data frame in memory to the fitted result, measured in this run:
lmm_teach in this process (``lmm_teach.fit(formula, data, engine=...)``); the readable engine
and statsmodels in a fresh subprocess each (so that a slow one can be stopped at its time
limit); lme4 inside R (``lme4_fit.R``: only ``lmer``, after R's start-up and the CSV). Small
workloads (n <= 10,000) report the median of 5 fits after a warm-up; larger ones one fit.

The fast engine's time is also split into its stages: model_matrices, the Gram pass
(``design.gram``), the optimizer (evaluations x seconds per ``blocked_deviance`` evaluation at
the optimum, median of several calls), and the rest (the final solve, the fitted object).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings

import pandas as pd

import common
from workloads import WORKLOADS, Workload, r_package_available

READABLE_MAX_Q = 3_000          # the dense q x q engine is skipped beyond this many effects
READABLE_TIMEOUT = 600.0
STATSMODELS_TIMEOUT = 120.0
TARGETS = {"sleepstudy": 1.0, "penicillin": 1.0, "egsingle_sim": 0.5, "chem97_sim": 0.5,
           "insteval_sim": 1 / 8, "million": 1 / 10, "egsingle": 0.5, "chem97": 0.5,
           "insteval": 1 / 8}


# ---------------------------------------------------------------- the workers (subprocesses)


def statsmodels_fit(workload: Workload) -> dict:
    """statsmodels MixedLM's REML fit, timed from the data frame to the result."""
    import statsmodels.formula.api as smf
    formula, data = workload.make()
    spec = dict(workload.statsmodels)
    data = data.assign(one=1)
    fixed = spec.pop("fixed") or formula.split("+ (")[0]
    started = time.perf_counter()
    model = smf.mixedlm(fixed, data, groups=spec["groups"], re_formula=spec["re_formula"],
                        vc_formula=spec["vc_formula"])
    result = model.fit(reml=True)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "reml": -2 * float(result.llf), "converged": bool(result.converged)}


def readable_fit(workload: Workload) -> dict:
    """lmm_teach's readable engine's REML fit, timed from the data frame to the result."""
    formula, data = workload.make()
    seconds, result = common.timed(lambda: common.fit_with("readable", formula, data),
                                   common.repeats_for(len(data)))
    return {"seconds": seconds, "reml": float(result.deviance)}


WORKERS = {"statsmodels": statsmodels_fit, "readable": readable_fit}


def in_subprocess(worker: str, name: str, timeout: float) -> dict:
    """Run ``worker`` on workload ``name`` in a fresh Python; {"skipped": reason} on a timeout
    or an error."""
    call = [sys.executable, __file__, "--worker", worker, name]
    try:
        done = subprocess.run(call, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"skipped": f"stopped after {timeout:.0f} s", "timeout": timeout}
    if done.returncode != 0:
        return {"skipped": "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the fast engine, in stages


def fast_stages(formula: str, data: pd.DataFrame) -> dict:
    """The fast engine's stages timed one by one, the evaluations and seconds per evaluation."""
    parts = common.fast_engine_parts()
    if parts is None:
        return {}
    optimize, deviance = parts
    from lmm_teach.design import model_matrices
    started = time.perf_counter()
    design = model_matrices(formula, data)
    matrices = time.perf_counter() - started
    gram_seconds, _ = common.timed(lambda: design.gram)
    optimize_seconds, optimum = common.timed(lambda: optimize(design, True))
    per_evaluation = common.median_seconds(lambda: deviance(optimum.theta, design, True))
    return {"model_matrices": matrices, "gram": gram_seconds, "optimize": optimize_seconds,
            "n_evaluations": int(optimum.n_evaluations), "per_evaluation": per_evaluation,
            "n_start_evaluations": int(getattr(optimum, "n_start_evaluations", 0)),
            "theta": [float(t) for t in optimum.theta]}


def fast_fit(formula: str, data: pd.DataFrame) -> dict:
    """The fast engine's REML fit timed whole, then in stages."""
    if not common.has_engine_argument():
        return {"skipped": "lmm_teach.fit has no engine= yet"}
    seconds, result = common.timed(lambda: common.fit_with("fast", formula, data),
                                   common.repeats_for(len(data)))
    out = {"seconds": seconds, "reml": float(result.deviance),
           "theta": [float(t) for t in result.theta]}
    return out | {"stages": fast_stages(formula, data)}


# ---------------------------------------------------------------- one workload


def bench_one(workload: Workload, lme4_note: str | None) -> dict:
    """Every engine on one workload; a dict of results and skip reasons."""
    formula, data = workload.make()
    n, q = len(data), common.q_of(formula, data)
    row = {"name": workload.name, "formula": formula, "n": n, "q": q,
           "bytes": int(data.memory_usage(deep=True).sum())}
    print(f"\n== {workload.name}: {workload.description}; n = {n:,}, q = {q:,}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row["fast"] = fast_fit(formula, data)
    report("fast", row["fast"])
    row["readable"] = ({"skipped": f"q = {q:,} > {READABLE_MAX_Q:,}: q x q dense per evaluation"}
                       if q > READABLE_MAX_Q else
                       in_subprocess("readable", workload.name, READABLE_TIMEOUT))
    report("readable", row["readable"])
    reason = workload.statsmodels if isinstance(workload.statsmodels, str) else None
    row["statsmodels"] = ({"skipped": reason} if reason else
                          in_subprocess("statsmodels", workload.name, STATSMODELS_TIMEOUT))
    report("statsmodels", row["statsmodels"])
    row["lme4"] = ({"skipped": lme4_note} if lme4_note else
                   common.run_lme4(formula, data, common.repeats_for(n)))
    report("lme4", row["lme4"])
    return row


def report(engine: str, result: dict) -> None:
    """One line of progress."""
    if "skipped" in result:
        print(f"   {engine:12s} skipped: {result['skipped']}", flush=True)
    else:
        print(f"   {engine:12s} {result['seconds']:9.3f} s   REML {result['reml']:.6f}",
              flush=True)


# ---------------------------------------------------------------- the tables


def seconds_cell(result: dict) -> str:
    """Seconds, or a note on why there is no time."""
    if "seconds" in result:
        return common.fmt_seconds(result["seconds"])
    if "timeout" in result:
        return f"> {result['timeout']:.0f}"
    return "skip"


def ratio(row: dict) -> float | None:
    """lmm_teach fast / lme4 seconds."""
    if "seconds" in row["fast"] and "seconds" in row["lme4"]:
        return row["fast"]["seconds"] / row["lme4"]["seconds"]
    return None


def verdict(row: dict) -> str:
    """Whether the issue's target for this workload holds."""
    target, measured = TARGETS.get(row["name"]), ratio(row)
    if target is None or measured is None:
        return "-"
    return f"<= {target:.3g}: " + ("holds" if measured <= target else "MISSED")


def times_table(rows: list[dict]) -> str:
    """Seconds per engine, ratio fast / lme4, and the target."""
    header = ["workload", "n", "q", "fast s", "readable s", "statsmodels s", "lme4 s",
              "fast / lme4", "target"]
    body = [[r["name"], f"{r['n']:,}", f"{r['q']:,}", seconds_cell(r["fast"]),
             seconds_cell(r["readable"]), seconds_cell(r["statsmodels"]), seconds_cell(r["lme4"]),
             "-" if ratio(r) is None else f"{ratio(r):.3f}", verdict(r)] for r in rows]
    return common.markdown_table(header, body)


def reml_difference(result: dict, reference: dict) -> str:
    """REML criterion of ``result`` minus the reference's."""
    if "reml" not in result or "reml" not in reference:
        return "-"
    return f"{result['reml'] - reference['reml']:+.2e}"


def agreement_table(rows: list[dict]) -> str:
    """The REML criteria: lme4's, and each engine's difference to it."""
    header = ["workload", "lme4 REML", "fast - lme4", "readable - lme4", "statsmodels - lme4",
              "readable - fast"]
    body = [[r["name"], f"{r['lme4']['reml']:.4f}" if "reml" in r["lme4"] else "-",
             reml_difference(r["fast"], r["lme4"]), reml_difference(r["readable"], r["lme4"]),
             reml_difference(r["statsmodels"], r["lme4"]),
             reml_difference(r["readable"], r["fast"])] for r in rows]
    return common.markdown_table(header, body)


def stages_table(rows: list[dict]) -> str:
    """Where the fast engine's time goes, and lme4's evaluations beside its own."""
    header = ["workload", "model_matrices s", "gram s", "optimize s", "evals (fast)",
              "start evals (one term each)", "ms / eval", "evals x eval s", "evals (lme4)",
              "lme4 ms / eval"]
    body = []
    for r in rows:
        stages, lme4 = r["fast"].get("stages") or {}, r["lme4"]
        if not stages:
            continue
        lme4_per = (f"{1000 * lme4['seconds'] / lme4['feval']:.3g}" if "feval" in lme4 else "-")
        body.append([r["name"], f"{stages['model_matrices']:.3g}", f"{stages['gram']:.3g}",
                     f"{stages['optimize']:.3g}", str(stages["n_evaluations"]),
                     str(stages.get("n_start_evaluations", "-")),
                     f"{1000 * stages['per_evaluation']:.3g}",
                     f"{stages['n_evaluations'] * stages['per_evaluation']:.3g}",
                     str(lme4.get("feval", "-")), lme4_per])
    return common.markdown_table(header, body)


# ---------------------------------------------------------------- main


def chosen(args: argparse.Namespace) -> list[Workload]:
    """The workloads to run: --only names, --quick ones, or all (real ones when R has them)."""
    if args.only:
        unknown = [name for name in args.only if name not in WORKLOADS]
        if unknown:
            raise SystemExit(f"unknown workload(s) {unknown}; known: {list(WORKLOADS)}")
        return [WORKLOADS[name] for name in args.only]
    if args.quick:
        return [w for w in WORKLOADS.values() if w.quick]
    picked = [w for w in WORKLOADS.values() if not w.real]
    if r_package_available("mlmRev") and r_package_available("lme4"):
        return picked + [w for w in WORKLOADS.values() if w.real]
    print("note: R with lme4 and mlmRev not found: the real egsingle, Chem97 and InstEval "
          "are skipped")
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", help="a workload name (repeatable)")
    parser.add_argument("--quick", action="store_true", help="the small workloads only")
    parser.add_argument("--json", help="also save the raw results to this file")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            print(json.dumps(WORKERS[args.worker[0]](WORKLOADS[args.worker[1]])))
        return
    print(common.machine())
    lme4_note = common.lme4_missing()
    if lme4_note:
        print("note:", lme4_note)
    workloads = chosen(args)
    if common.has_engine_argument():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            common.fit_with("fast", *WORKLOADS["sleepstudy"].make())  # imports, caches: untimed
    rows = [bench_one(w, lme4_note) for w in workloads]
    print("\nSeconds (REML, data frame in memory -> fitted result)\n" + times_table(rows))
    print("\nREML criterion: lme4's, and the differences to it\n" + agreement_table(rows))
    print("\nThe fast engine's stages (separate timed run)\n" + stages_table(rows))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)


if __name__ == "__main__":
    main()
