"""Peak memory of the fast engine's REML fit of the 1M/100k model, against the data frame's size.

    .venv/bin/python benchmarks/bench_memory.py                  # 1,000,000 obs, 100,000 groups
    .venv/bin/python benchmarks/bench_memory.py --n 200000 --groups 20000
    .venv/bin/python benchmarks/bench_memory.py --lme4           # R's heap peak for lme4 too

Each measurement runs in a fresh Python (a child process), which first fits sleepstudy (so that
imports and first-use caches are not counted), then makes the data, then fits:

- RSS: the peak resident set size during the fit minus the RSS just before it. The peak is
  Linux's VmHWM, reset just before the fit by writing 5 to /proc/self/clear_refs; where that is
  not permitted, ru_maxrss is used and the note says whether the data generation's peak could
  hide the fit's.
- tracemalloc: the peak of memory traced during the fit (numpy registers its buffers with
  tracemalloc; memory a C library allocates by itself is not seen). Slower, so its own child.

The issue's target: peak <= 4 x the data frame's size (memory_usage(deep=True)), the
interpreter aside.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings

import common
from workloads import slopes, sleepstudy

TARGET = 4.0


def status_kib(field: str) -> int:
    """A field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS; whether the kernel allowed it."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return status_kib("VmHWM") <= status_kib("VmRSS") + 1024


def fit_fast(formula: str, data) -> object:
    """The fast engine's REML fit (warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return common.fit_with("fast", formula, data)


def child_rss(n: int, J: int) -> dict:
    """The fit's peak RSS increase and its time, in this (fresh) process."""
    fit_fast(*sleepstudy())
    formula, data = slopes(n, J)
    gc.collect()
    rss_before, maxrss_before = status_kib("VmRSS"), resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss
    reset = reset_peak_rss()
    started = time.perf_counter()
    result = fit_fast(formula, data)
    seconds = time.perf_counter() - started
    peak = status_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    note = ("VmHWM reset by /proc/self/clear_refs" if reset else
            "ru_maxrss: " + ("the fit's peak is above the data generation's"
                             if peak > maxrss_before else
                             "the data generation's peak may hide the fit's (a lower bound)"))
    return {"df_bytes": int(data.memory_usage(deep=True).sum()), "seconds": seconds,
            "rss_before": rss_before * 1024, "peak_increase": (peak - rss_before) * 1024,
            "reml": float(result.deviance), "note": note}


def child_tracemalloc(n: int, J: int) -> dict:
    """tracemalloc's peak during the fit, in this (fresh) process."""
    fit_fast(*sleepstudy())
    formula, data = slopes(n, J)
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    fit_fast(formula, data)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"traced_peak": peak, "traced_left": current}


def child_stages(n: int, J: int) -> dict:
    """tracemalloc's peak in each stage of the fast engine (model_matrices, the Gram pass, the
    optimizer, the fitted object) and the memory each stage leaves held, in bytes."""
    parts = common.fast_engine_parts()
    if parts is None:
        return {}
    from lmm_teach.design import model_matrices
    from lmm_teach.lmer import make_fit
    optimize, _ = parts
    fit_fast(*sleepstudy())
    formula, data = slopes(n, J)
    gc.collect()
    tracemalloc.start()
    stages: dict[str, tuple[int, int]] = {}
    value = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, step in [("model_matrices", lambda _: model_matrices(formula, data)),
                           ("gram", lambda design: (design.gram, design)[1]),
                           ("optimize", lambda design: (design, optimize(design, True))),
                           ("make_fit", lambda pair: make_fit(*pair, True))]:
            tracemalloc.reset_peak()
            value = step(value)
            stages[name] = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {name: {"held": held, "peak": peak} for name, (held, peak) in stages.items()}


def run_child(mode: str, n: int, J: int) -> dict:
    """Run one measurement in a fresh Python and read its JSON."""
    call = [sys.executable, __file__, "--child", mode, "--n", str(n), "--groups", str(J)]
    done = subprocess.run(call, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} child failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def mib(n_bytes: float) -> str:
    """Bytes in MiB."""
    return f"{n_bytes / 2**20:.1f} MiB"


def print_report(rss: dict, traced: dict, lme4: dict | None) -> None:
    """The table: sizes, peaks, ratios, the target."""
    size = rss["df_bytes"]
    rows = [["data frame (memory_usage(deep=True))", mib(size), "1.00"],
            ["peak RSS increase during the fit", mib(rss["peak_increase"]),
             f"{rss['peak_increase'] / size:.2f}"],
            ["tracemalloc peak during the fit", mib(traced["traced_peak"]),
             f"{traced['traced_peak'] / size:.2f}"]]
    if lme4:
        rows.append(["lme4: R heap 'max used' (gc) minus baseline",
                     mib((lme4["r_peak_mb"] - lme4["r_baseline_mb"]) * 2**20),
                     f"{(lme4['r_peak_mb'] - lme4['r_baseline_mb']) * 2**20 / size:.2f}"])
    print(common.markdown_table(["what", "size", "x data frame"], rows))
    worst = max(rss["peak_increase"], traced["traced_peak"]) / size
    print(f"\nfit: {rss['seconds']:.2f} s, REML {rss['reml']:.6f}; RSS before the fit "
          f"{mib(rss['rss_before'])} (interpreter, libraries, data); {rss['note']}")
    print(f"target peak <= {TARGET:g} x data frame: "
          + ("holds" if worst <= TARGET else "MISSED") + f" (worst measure {worst:.2f} x)")
    if lme4:
        print(f"lme4: {lme4['seconds']:.2f} s, REML {lme4['reml']:.6f}")


def print_stages(stages: dict, size: int) -> None:
    """tracemalloc per stage: the peak (from the memory held when the stage began) and what it
    leaves held."""
    if not stages:
        print("no stages: the fast engine's parts are not importable")
        return
    rows = [[name, mib(s["peak"]), f"{s['peak'] / size:.2f}", mib(s["held"])]
            for name, s in stages.items()]
    print("\ntracemalloc by stage (peak includes what earlier stages still hold)")
    print(common.markdown_table(["stage", "peak", "x data frame", "held after"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--lme4", action="store_true", help="also lme4's time and R heap peak")
    parser.add_argument("--stages", action="store_true",
                        help="also tracemalloc's peak in each stage of the fit")
    parser.add_argument("--child", choices=["rss", "tracemalloc", "stages"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child = {"rss": child_rss, "tracemalloc": child_tracemalloc,
                 "stages": child_stages}[args.child]
        print(json.dumps(child(args.n, args.groups)))
        return
    if not common.has_engine_argument():
        raise SystemExit("lmm_teach.fit has no engine= yet: nothing to measure")
    print(common.machine())
    print(f"\ny ~ x + (1 + x | g), n = {args.n:,}, groups = {args.groups:,}, REML, fast engine")
    rss, traced = run_child("rss", args.n, args.groups), run_child("tracemalloc", args.n,
                                                                    args.groups)
    lme4 = None
    if args.lme4:
        note = common.lme4_missing()
        lme4 = None if note else common.run_lme4(*slopes(args.n, args.groups))
        if note:
            print("note:", note)
    print_report(rss, traced, lme4)
    if args.stages:
        print_stages(run_child("stages", args.n, args.groups), rss["df_bytes"])


if __name__ == "__main__":
    main()
