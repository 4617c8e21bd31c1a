"""How the fast engine's costs grow with n (groups fixed) and with the number of groups (n fixed).

    .venv/bin/python benchmarks/bench_scaling.py            # the table
    .venv/bin/python benchmarks/bench_scaling.py --plot     # and benchmarks/results/scaling.png
    .venv/bin/python benchmarks/bench_scaling.py --lme4     # and lme4's fit time at each point

Two models: ``y ~ x + (1 + x | g)`` (one grouping factor, a random slope) and
``y ~ x + (1 | a) + (1 | b)`` (two crossed factors, b with 200 levels). At each point:
model_matrices (stage 1), the Gram pass (``design.gram``, the O(n) work done once), one
evaluation of ``blocked_deviance`` at lme4's start theta (median of several calls; it should not
grow with n), and the whole fast fit from the data frame.
"""

from __future__ import annotations

import argparse
import time
import warnings

import common
import workloads


def measure(make) -> dict:
    """model_matrices, Gram pass, seconds per evaluation, q, and the fast fit, at one point."""
    from lmm_teach.blocked import blocked_deviance
    from lmm_teach.design import model_matrices
    from lmm_teach.pls import theta_start
    formula, data = make()
    started = time.perf_counter()
    design = model_matrices(formula, data)
    matrices = time.perf_counter() - started
    gram, _ = common.timed(lambda: design.gram)
    theta = theta_start(design.terms)
    per_evaluation = common.median_seconds(lambda: blocked_deviance(theta, design, True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_seconds, result = common.timed(lambda: common.fit_with("fast", formula, data))
    return {"q": sum(len(t.levels) * t.k for t in design.terms), "model_matrices": matrices,
            "gram": gram, "per_evaluation": per_evaluation, "fit": fit_seconds,
            "reml": float(result.deviance), "formula": formula, "data": data}


def table(rows: list[dict]) -> str:
    """The measurements as a markdown table."""
    header = ["model", "series", "n", "groups", "q", "model_matrices s", "gram s", "ms / eval",
              "fast fit s", "lme4 s"]
    body = [[r["model"], r["series"], f"{r['n']:,}", f"{r['J']:,}", f"{r['q']:,}",
             f"{r['model_matrices']:.3g}", f"{r['gram']:.3g}",
             f"{1000 * r['per_evaluation']:.3g}", f"{r['fit']:.3g}",
             common.fmt_seconds(r.get("lme4"))] for r in rows]
    return common.markdown_table(header, body)


def plot(rows: list[dict], path: str) -> None:
    """Gram pass and per-evaluation time against n and against groups, log-log, one panel each."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, series in zip(axes, ["n", "groups"]):
        for model, marker in [("slopes", "o"), ("crossed", "s")]:
            points = [r for r in rows if r["series"] == series and r["model"] == model]
            x = [r["n"] if series == "n" else r["J"] for r in points]
            axis.loglog(x, [r["gram"] for r in points], marker=marker, label=f"{model}: Gram pass")
            axis.loglog(x, [r["per_evaluation"] for r in points], marker=marker, linestyle="--",
                        label=f"{model}: one evaluation")
        axis.set_xlabel("n (groups fixed)" if series == "n" else "groups (n fixed)")
        axis.set_ylabel("seconds")
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plot", action="store_true", help="save results/scaling.png")
    parser.add_argument("--lme4", action="store_true", help="also time lme4 at each point")
    args = parser.parse_args()
    if common.fast_engine_parts() is None or not common.has_engine_argument():
        raise SystemExit("the fast engine (lmm_teach.blocked, engine=) is not there yet")
    print(common.machine())
    lme4_note = common.lme4_missing() if args.lme4 else "not asked (--lme4)"
    common.fit_with("fast", *workloads.sleepstudy())       # imports and caches: untimed
    rows = []
    for series, model, n, J, make in workloads.scaling_series():
        row = {"series": series, "model": model, "n": n, "J": J} | measure(make)
        if not lme4_note:
            row["lme4"] = common.run_lme4(row["formula"], row["data"])["seconds"]
        del row["data"]
        print(f"{model:8s} {series:7s} n={n:>9,d} groups={J:>7,d}: gram {row['gram']:.3f} s, "
              f"{1000 * row['per_evaluation']:.2f} ms/eval, fit {row['fit']:.2f} s", flush=True)
        rows.append(row)
    print("\n" + table(rows))
    if args.plot:
        common.RESULTS.mkdir(exist_ok=True)
        plot(rows, str(common.RESULTS / "scaling.png"))
        print(f"\nsaved {common.RESULTS / 'scaling.png'}")


if __name__ == "__main__":
    main()
