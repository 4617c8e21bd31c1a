"""Seeded workloads for the benchmarks: each returns ``(formula, data)``.

Simulated data sets have the sizes and the crossing or nesting of the real ones (InstEval from
lme4, egsingle and Chem97 from mlmRev); their variance components are near lme4's REML
estimates on the real data. The real data sets themselves are available through
:func:`real_data` when R with lme4 and mlmRev is installed (exported locally by ``Rscript``).

Every simulator takes a ``seed``; the same seed gives the same data frame. Grouping factors
are stored compactly as pandas categoricals (integer codes), numbers as float64.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from lmm_teach.data import load_penicillin, load_sleepstudy

SEED = 20240607


# ---------------------------------------------------------------- helpers


def as_factor(codes: np.ndarray, prefix: str = "") -> pd.Categorical:
    """A categorical whose levels are the integers (or ``prefix`` + integer) in ``codes``."""
    if not prefix:
        return pd.Categorical.from_codes(codes.astype(np.int32), np.arange(codes.max() + 1))
    names = np.array([f"{prefix}{j}" for j in range(codes.max() + 1)])
    return pd.Categorical.from_codes(codes.astype(np.int32), names)


def sizes_summing_to(total: int, weights: np.ndarray, low: int, high: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Integer group sizes in ``[low, high]`` roughly proportional to ``weights``, summing to
    ``total`` exactly (the rounding difference is spread one unit at a time at random)."""
    sizes = np.clip(np.round(total * weights / weights.sum()), low, high).astype(np.int64)
    while (gap := total - int(sizes.sum())) != 0:
        room = np.flatnonzero(sizes < high) if gap > 0 else np.flatnonzero(sizes > low)
        chosen = rng.choice(room, size=min(abs(gap), room.size), replace=False)
        sizes[chosen] += np.sign(gap)
    return sizes


def nest(n_children: int, n_parents: int, weights: np.ndarray,
         rng: np.random.Generator) -> np.ndarray:
    """The parent (0 .. n_parents - 1) of each child: every parent gets at least one child, the
    rest in proportion to ``weights``; children come sorted by parent."""
    sizes = sizes_summing_to(n_children, weights, 1, n_children, rng)
    return np.repeat(np.arange(n_parents), sizes)


def correlated_effects(J: int, sds: list[float], rho: float,
                       rng: np.random.Generator) -> np.ndarray:
    """``J`` draws of a 2-vector with standard deviations ``sds`` and correlation ``rho``."""
    cov = np.array([[sds[0] ** 2, rho * sds[0] * sds[1]], [rho * sds[0] * sds[1], sds[1] ** 2]])
    return rng.multivariate_normal(np.zeros(2), cov, size=J)


# ---------------------------------------------------------------- shipped data


def sleepstudy() -> tuple[str, pd.DataFrame]:
    """lme4's sleepstudy, 180 obs, 18 subjects, correlated random intercept and slope."""
    data = load_sleepstudy()
    data["Subject"] = data["Subject"].astype("category")
    return "Reaction ~ Days + (Days | Subject)", data


def penicillin() -> tuple[str, pd.DataFrame]:
    """lme4's Penicillin, 144 obs, 24 plates crossed with 6 samples."""
    return "diameter ~ 1 + (1 | plate) + (1 | sample)", load_penicillin()


# ---------------------------------------------------------------- InstEval-shaped


def insteval_ratings_per_student(rng: np.random.Generator, n: int = 73_421,
                                 J_s: int = 2_972) -> np.ndarray:
    """How many instructors each student rates: skewed (gamma), between 1 and 92, mean ~25."""
    weights = rng.gamma(shape=2.2, scale=1.0, size=J_s)
    return sizes_summing_to(n, weights, 1, 92, rng)


def curricula(dept_of_d: np.ndarray, popularity: np.ndarray, rng: np.random.Generator,
              n_programs: int = 56, size: int = 60, home_boost: float = 200.0) -> np.ndarray:
    """(n_programs, J_d) booleans: the instructors of each study program's curriculum, drawn
    without replacement (Gumbel top-k), mostly from the program's home department."""
    home = np.arange(n_programs) % (dept_of_d.max() + 1)
    keys = popularity + np.log(home_boost) * (dept_of_d[None, :] == home[:, None])
    keys = keys + rng.gumbel(size=keys.shape)
    chosen = np.zeros(keys.shape, dtype=bool)
    np.put_along_axis(chosen, np.argsort(-keys, axis=1)[:, :size], True, axis=1)
    return chosen


def insteval_pairs(per_student: np.ndarray, dept_of_d: np.ndarray, rng: np.random.Generator,
                   curriculum_boost: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
    """(student, instructor) pairs, each pair once. Each student follows one of 56 study
    programs and rates mostly instructors of its curriculum (:func:`curricula`), with
    popularity varying between instructors (log-normal).

    Each student's instructors are drawn without replacement by the Gumbel-top-k trick. With
    the default seed: 5.4 departments per student (InstEval: 5.5); instructors' ratings have
    quartiles 20, 48, 91 (InstEval: 16, 31, 83); 35% of the instructor pairs share a student
    (InstEval: 20%), so the instructors' block fills in somewhat more than InstEval's.
    """
    J_s, J_d = per_student.size, dept_of_d.size
    popularity = rng.normal(0.0, 0.8, size=J_d)
    program = rng.integers(56, size=J_s)
    in_curriculum = curricula(dept_of_d, popularity, rng)[program]
    keys = popularity + np.log(curriculum_boost) * in_curriculum + rng.gumbel(size=(J_s, J_d))
    order = np.argsort(-keys, axis=1)
    s, rank = np.nonzero(np.arange(J_d)[None, :] < per_student[:, None])
    return s, order[s, rank]


def every_level_used(s: np.ndarray, d: np.ndarray, J_d: int,
                     rng: np.random.Generator) -> np.ndarray:
    """``d`` with each unused instructor given one rating taken from the most rated one (by a
    student who does not rate the unused one yet), so that all ``J_d`` levels occur."""
    d = d.copy()
    for missing in np.flatnonzero(np.bincount(d, minlength=J_d) == 0):
        donors = np.flatnonzero(d == np.argmax(np.bincount(d, minlength=J_d)))
        rated = set(s[d == missing].tolist())
        row = next(r for r in rng.permutation(donors) if s[r] not in rated)
        d[row] = missing
    return d


def insteval_like(seed: int = SEED, ratings: bool = True) -> tuple[str, pd.DataFrame]:
    """An InstEval-shaped data set: 73,421 ratings by 2,972 students (s) of 1,128 instructors
    (d) in 14 departments (dept; each instructor in one), a two-level factor ``service``.

    ``y`` follows lme4's REML fit to InstEval (intercept 3.28, service -0.09, sd(s) 0.33,
    sd(d) 0.51, sd(dept) 0.08, residual 1.18), rounded to the ratings 1..5 unless
    ``ratings=False`` (then Gaussian).
    """
    rng = np.random.default_rng(seed)
    J_s, J_d, J_dept = 2_972, 1_128, 14
    dept_of_d = nest(J_d, J_dept, rng.dirichlet(np.full(J_dept, 4.0)), rng)
    dept_of_d = rng.permutation(dept_of_d)
    s, d = insteval_pairs(insteval_ratings_per_student(rng, 73_421, J_s), dept_of_d, rng)
    d = every_level_used(s, d, J_d, rng)
    service = rng.random(s.size) < rng.beta(2.0, 2.6, size=J_d)[d]
    eta = (3.28 - 0.093 * service + rng.normal(0, 0.33, J_s)[s] + rng.normal(0, 0.51, J_d)[d]
           + rng.normal(0, 0.083, J_dept)[dept_of_d[d]])
    y = eta + rng.normal(0, 1.18, s.size)
    data = pd.DataFrame({"s": as_factor(s), "d": as_factor(d), "dept": as_factor(dept_of_d[d]),
                         "service": pd.Categorical(np.where(service, "1", "0")),
                         "y": np.clip(np.round(y), 1, 5) if ratings else y})
    return "y ~ service + (1 | s) + (1 | d) + (1 | dept)", data


# ---------------------------------------------------------------- random slopes, many groups


def slopes(n: int = 1_000_000, J: int = 100_000, seed: int = SEED) -> tuple[str, pd.DataFrame]:
    """``y ~ x + (1 + x | g)``: n obs in J groups of (nearly) equal size, rows in random order.

    True values: beta = (1, 0.5), sd(intercept) 1, sd(slope) 0.5, correlation 0.3, residual 1.
    ``g`` is a categorical with int32 codes (4 bytes a row).
    """
    rng = np.random.default_rng(seed)
    g = rng.permutation(np.arange(n, dtype=np.int32) % J)
    x = rng.standard_normal(n)
    b = correlated_effects(J, [1.0, 0.5], 0.3, rng)
    y = 1.0 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.standard_normal(n)
    return "y ~ x + (1 + x | g)", pd.DataFrame({"y": y, "x": x, "g": as_factor(g)})


def million(seed: int = SEED) -> tuple[str, pd.DataFrame]:
    """The issue's 1,000,000 observations in 100,000 groups, ``y ~ x + (1 + x | g)``."""
    return slopes(1_000_000, 100_000, seed)


def crossed(n: int = 200_000, J_a: int = 2_000, J_b: int = 200,
            seed: int = SEED) -> tuple[str, pd.DataFrame]:
    """``y ~ x + (1 | a) + (1 | b)``: two crossed factors, levels drawn at random for each row
    (a with skewed level frequencies), sd(a) 0.5, sd(b) 0.8, residual 1."""
    rng = np.random.default_rng(seed)
    a = np.concatenate([np.arange(J_a), rng.choice(J_a, n - J_a, p=rng.dirichlet(np.ones(J_a)))])
    b = np.concatenate([np.arange(J_b), rng.integers(J_b, size=n - J_b)])
    a, b = a[rng.permutation(n)], b[rng.permutation(n)]
    x = rng.standard_normal(n)
    y = 2.0 + 0.3 * x + rng.normal(0, 0.5, J_a)[a] + rng.normal(0, 0.8, J_b)[b]
    y += rng.standard_normal(n)
    return "y ~ x + (1 | a) + (1 | b)", pd.DataFrame(
        {"y": y, "x": x, "a": as_factor(a), "b": as_factor(b)})


# ---------------------------------------------------------------- mlmRev-shaped


def egsingle_like(seed: int = SEED) -> tuple[str, pd.DataFrame]:
    """An egsingle-shaped data set: 7,230 math scores of 1,721 children in 60 schools, each child
    seen in 2..6 consecutive years (``year`` = grade - 3.5, from -2.5 to 2.5).

    lme4's REML fit to egsingle: intercept -0.79, year 0.75, child sd 0.81 (intercept) and 0.15
    (slope) with correlation 0.46, school sd 0.39, residual 0.55.
    """
    rng = np.random.default_rng(seed)
    J_child, J_school = 1_721, 60
    school = nest(J_child, J_school, rng.gamma(2.5, size=J_school), rng)
    years = sizes_summing_to(7_230, rng.gamma(8.0, size=J_child), 2, 6, rng)
    child = np.repeat(np.arange(J_child), years)
    first = rng.integers(0, 7 - years)
    year = (np.arange(child.size) - np.repeat(np.cumsum(years) - years, years)
            + np.repeat(first, years) - 2.5)
    b = correlated_effects(J_child, [0.81, 0.15], 0.46, rng)
    math = (-0.79 + 0.75 * year + b[child, 0] + b[child, 1] * year
            + rng.normal(0, 0.39, J_school)[school[child]] + rng.normal(0, 0.55, child.size))
    data = pd.DataFrame({"math": math, "year": year, "childid": as_factor(child),
                         "schoolid": as_factor(school[child])})
    return "math ~ year + (year | childid) + (1 | schoolid)", data


def chem97_like(seed: int = SEED, points: bool = True) -> tuple[str, pd.DataFrame]:
    """A Chem97-shaped data set: 31,022 A-level chemistry scores of students in 2,410 schools
    nested in 131 local education authorities (lea), with ``gcsecnt`` (centred GCSE score),
    ``gender`` (M/F) and ``age`` (months, centred, -6..5).

    lme4's REML fit to Chem97: intercept 5.97, gcsecnt 2.57, genderF -0.74, age -0.038, school
    sd 1.06, lea sd 0.14, residual 2.25. Scores are rounded to the points 0, 2, .., 10 unless
    ``points=False``.
    """
    rng = np.random.default_rng(seed)
    n, J_school, J_lea = 31_022, 2_410, 131
    lea = nest(J_school, J_lea, rng.gamma(1.5, size=J_lea), rng)
    school = np.repeat(np.arange(J_school),
                       sizes_summing_to(n, rng.gamma(1.2, size=J_school), 1, 188, rng))
    gcsecnt = np.minimum(rng.normal(0.0, 0.87, n), 1.71)
    female = rng.random(n) < 0.55
    age = rng.integers(-6, 6, size=n).astype(float)
    score = (5.97 + 2.57 * gcsecnt - 0.74 * female - 0.038 * age
             + rng.normal(0, 1.06, J_school)[school] + rng.normal(0, 0.14, J_lea)[lea[school]]
             + rng.normal(0, 2.25, n))
    data = pd.DataFrame({"score": np.clip(2 * np.round(score / 2), 0, 10) if points else score,
                         "gcsecnt": gcsecnt, "gender": pd.Categorical(np.where(female, "F", "M")),
                         "age": age, "school": as_factor(school), "lea": as_factor(lea[school])})
    return "score ~ gcsecnt + gender + age + (1 | school) + (1 | lea)", data


# ---------------------------------------------------------------- real data through R


REAL_FORMULAS = {
    "egsingle": ("mlmRev", "math ~ year + (year | childid) + (1 | schoolid)",
                 ["math", "year", "childid", "schoolid"]),
    "Chem97": ("mlmRev", "score ~ gcsecnt + gender + age + (1 | school) + (1 | lea)",
               ["score", "gcsecnt", "gender", "age", "school", "lea"]),
    "InstEval": ("lme4", "y ~ service + (1 | s) + (1 | d) + (1 | dept)",
                 ["y", "service", "s", "d", "dept"]),
}
REAL_FACTORS = {"childid", "schoolid", "gender", "school", "lea", "service", "s", "d", "dept"}


def r_package_available(package: str) -> bool:
    """Whether ``Rscript`` exists and ``library(package)`` loads in it."""
    if shutil.which("Rscript") is None:
        return False
    call = ["Rscript", "-e", f"suppressMessages(library({package}))"]
    return subprocess.run(call, capture_output=True, timeout=120).returncode == 0


def real_data(name: str) -> tuple[str, pd.DataFrame]:
    """The real data set ``name`` (egsingle, Chem97 or InstEval) exported by R to a temporary CSV
    and read back, factors as categoricals. Needs Rscript with the data's R package; raises
    RuntimeError otherwise. Nothing is downloaded."""
    package, formula, columns = REAL_FORMULAS[name]
    if not r_package_available(package):
        raise RuntimeError(f"R package {package} (for {name}) is not available")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"{name}.csv")
        code = (f"suppressMessages(library({package})); d <- {name}[, c("
                + ", ".join(f'"{c}"' for c in columns) + f")]; write.csv(d, '{path}', "
                "row.names = FALSE)")
        subprocess.run(["Rscript", "-e", code], check=True, capture_output=True, timeout=300)
        dtypes = {c: "category" if c in REAL_FACTORS else "float64" for c in columns}
        return formula, pd.read_csv(path, dtype={c: str for c in dtypes if dtypes[c] != "float64"}
                                    ).astype(dtypes)


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Workload:
    """A named workload: how to make it, whether it is small (``--quick``), and how
    statsmodels' MixedLM can express it (or why it cannot)."""

    name: str
    make: Callable[[], tuple[str, pd.DataFrame]]
    quick: bool
    description: str
    statsmodels: dict | str = field(default="")   # MixedLM arguments, or the reason to skip
    real: bool = False


def _sm(groups: str, re_formula: str | None = None, vc: dict | None = None,
        fixed: str | None = None) -> dict:
    """statsmodels MixedLM.from_formula arguments (the fixed formula defaults to the model's)."""
    return {"groups": groups, "re_formula": re_formula, "vc_formula": vc, "fixed": fixed}


CROSSED_SM = ("crossed factors: MixedLM needs one group of all n rows with variance components, "
              "dense n x n work")
SLOPES_NESTED_SM = ("a correlated random slope inside a nested factor: MixedLM's variance "
                    "components are independent, so it cannot express (year | childid) within "
                    "schools")

WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload("sleepstudy", sleepstudy, True, "lme4 sleepstudy, 180 obs, 18 subjects",
             _sm("Subject", "~Days")),
    Workload("penicillin", penicillin, True, "lme4 Penicillin, 144 obs, 24 x 6 crossed",
             _sm("one", None, {"plate": "0 + C(plate)", "sample": "0 + C(sample)"},
                 "diameter ~ 1")),
    Workload("egsingle_sim", egsingle_like, True,
             "egsingle-shaped, 7,230 obs, 1,721 children in 60 schools", SLOPES_NESTED_SM),
    Workload("chem97_sim", chem97_like, True,
             "Chem97-shaped, 31,022 obs, 2,410 schools in 131 leas",
             _sm("lea", "1", {"school": "0 + C(school)"}, "score ~ gcsecnt + gender + age")),
    Workload("insteval_sim", insteval_like, False,
             "InstEval-shaped, 73,421 obs, 2,972 s x 1,128 d x 14 dept, crossed", CROSSED_SM),
    Workload("million", million, False, "1,000,000 obs, 100,000 groups, (1 + x | g)",
             _sm("g", "~x")),
    Workload("egsingle", lambda: real_data("egsingle"), False,
             "REAL mlmRev egsingle (R export)", SLOPES_NESTED_SM, real=True),
    Workload("chem97", lambda: real_data("Chem97"), False, "REAL mlmRev Chem97 (R export)",
             _sm("lea", "1", {"school": "0 + C(school)"}, "score ~ gcsecnt + gender + age"),
             real=True),
    Workload("insteval", lambda: real_data("InstEval"), False, "REAL lme4 InstEval (R export)",
             CROSSED_SM, real=True),
]}

# The scaling series (bench_scaling.py): n at fixed groups, groups at fixed n.
SCALING_N = [25_000, 50_000, 100_000, 200_000, 400_000, 800_000]
SCALING_N_GROUPS = 5_000
SCALING_GROUPS = [1_000, 4_000, 16_000, 64_000, 128_000]
SCALING_GROUPS_N = 400_000
CROSSED_N = [25_000, 50_000, 100_000, 200_000, 400_000, 800_000]
CROSSED_LEVELS = (2_000, 200)
CROSSED_A = [250, 500, 1_000, 2_000, 4_000, 8_000]
CROSSED_A_N = 200_000


def scaling_series() -> list[tuple[str, str, int, int, Callable[[], tuple[str, pd.DataFrame]]]]:
    """The scaling points as (series, model, n, J, make): four series, slopes and crossed."""
    points = [("n", "slopes", n, SCALING_N_GROUPS, lambda n=n: slopes(n, SCALING_N_GROUPS))
              for n in SCALING_N]
    points += [("groups", "slopes", SCALING_GROUPS_N, J, lambda J=J: slopes(SCALING_GROUPS_N, J))
               for J in SCALING_GROUPS]
    points += [("n", "crossed", n, CROSSED_LEVELS[0], lambda n=n: crossed(n, *CROSSED_LEVELS))
               for n in CROSSED_N]
    points += [("groups", "crossed", CROSSED_A_N, J,
                lambda J=J: crossed(CROSSED_A_N, J, CROSSED_LEVELS[1])) for J in CROSSED_A]
    return points


if __name__ == "__main__":
    for w in WORKLOADS.values():
        if w.real:
            continue
        formula, data = w.make()
        print(f"{w.name:14s} n={len(data):>9,d}  {data.memory_usage(deep=True).sum():>12,d} B  "
              f"{formula}")
