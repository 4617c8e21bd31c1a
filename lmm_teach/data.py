"""The data sets of the book, shipped inside the package (chapter 2, *The model and the data*).

Every loader reads a CSV file from ``lmm_teach/data``; nothing is downloaded. The provenance of
each file is in ``lmm_teach/data/PROVENANCE.md``. Grouping factors are read as text, so that a
grouping column is always a factor, never a number.
"""

from __future__ import annotations

import json
from importlib import resources

import pandas as pd

_GROUPING_COLUMNS = {
    "rail": ["Rail"],
    "dyestuff": ["Batch"],
    "dyestuff2": ["Batch"],
    "sleepstudy": ["Subject"],
    "penicillin": ["plate", "sample"],
    "pastes": ["batch", "cask", "sample"],
    "cbpp": ["herd", "period"],
    "loblolly": ["Seed"],
    "verbagg": ["id", "item"],
    "grouseticks": ["INDEX", "BROOD", "LOCATION", "YEAR"],
    "star": ["id", "sch", "tch", "gr"],
}


def _read_csv(name: str) -> pd.DataFrame:
    """Read ``lmm_teach/data/<name>.csv`` with its grouping columns as text."""
    text_columns = {column: str for column in _GROUPING_COLUMNS[name]}
    with resources.files("lmm_teach").joinpath("data").joinpath(f"{name}.csv").open("r") as handle:
        return pd.read_csv(handle, dtype=text_columns)


def load_rail() -> pd.DataFrame:
    """Travel time of ultrasonic waves along six rails, three measurements each.

    Columns ``Rail`` (text, ``"1"`` to ``"6"``) and ``travel`` (nanoseconds minus 36,100).
    Source: nlme ``Rail`` (Devore 2000; Pinheiro & Bates 2000, section 1.1).
    """
    return _read_csv("rail")


def load_dyestuff() -> pd.DataFrame:
    """Yield of dyestuff from six batches of an intermediate product (lme4 ``Dyestuff``)."""
    return _read_csv("dyestuff")


def load_dyestuff2() -> pd.DataFrame:
    """Simulated yields whose batch variance is estimated as zero (lme4 ``Dyestuff2``)."""
    return _read_csv("dyestuff2")


def load_sleepstudy() -> pd.DataFrame:
    """Reaction times of 18 subjects over 10 days of sleep deprivation (lme4 ``sleepstudy``)."""
    return _read_csv("sleepstudy")


def load_penicillin() -> pd.DataFrame:
    """Penicillin potency: 24 plates crossed with 6 samples (lme4 ``Penicillin``)."""
    return _read_csv("penicillin")


def load_pastes() -> pd.DataFrame:
    """Paste strength: casks nested within batches (lme4 ``Pastes``)."""
    return _read_csv("pastes")


def load_cbpp() -> pd.DataFrame:
    """Contagious bovine pleuropneumonia incidence by herd and period (lme4 ``cbpp``)."""
    return _read_csv("cbpp")


def load_loblolly() -> pd.DataFrame:
    """Heights (feet) of loblolly pines from 14 seed sources at ages 3 to 25 years (R's
    ``datasets::Loblolly``); columns ``height``, ``age``, ``Seed``. Chapter 13."""
    return _read_csv("loblolly")


def load_verbagg() -> pd.DataFrame:
    """Verbal aggression: 316 persons answer 24 items (lme4 ``VerbAgg``; De Boeck & Wilson
    2004), 7,584 rows. ``r2`` is ``"Y"`` (the person would curse, scold or shout) or ``"N"``;
    ``Anger`` the person's trait anger score; ``Gender``, ``btype`` (curse, scold, shout),
    ``situ`` (other, self) and ``mode`` (want, do) describe person and item. Chapter 22."""
    return _read_csv("verbagg")


def load_grouseticks() -> pd.DataFrame:
    """Ticks counted on the heads of 403 red grouse chicks (lme4 ``grouseticks``; Elston et
    al. 2001): ``TICKS``, the chick's ``INDEX``, its ``BROOD``, the ``LOCATION`` and ``YEAR``
    (95, 96, 97), the location's ``HEIGHT`` above sea level and ``cHEIGHT``, the height
    centred. Chapter 22."""
    return _read_csv("grouseticks")


def load_star() -> pd.DataFrame:
    """Tennessee's class-size experiment, STAR (mlmRev ``star``; Word et al. 1990): 26,796
    rows, one per pupil and grade, with missing values (NaN) as published. ``id`` is the pupil,
    ``sch`` the school, ``tch`` the teacher (one class), ``gr`` the grade (``"K"``, ``"1"``,
    ``"2"``, ``"3"``), ``cltype`` the class type the pupil was assigned to (``small``, ``reg``,
    ``reg+A``: regular with a teacher's aide), ``math`` and ``read`` the Stanford Achievement
    Test scaled scores; ``sx``, ``eth``, ``ses`` (``F``: free school lunch) describe the pupil,
    ``exp``, ``hdeg``, ``clad``, ``trace`` the teacher, ``schtype`` the school's area.
    Chapter 23."""
    return _read_csv("star")


def load_lme4_star_reference() -> dict:
    """lme4 1.1-31's and lmerTest 3.1-3's fits of the kindergarten STAR sample, made by
    ``lme4_star.R`` (``lme4_star.json``): ``sample`` (its size and missing values), ``fits``
    (``school``, ``classes``, ``small_slope``, ``cltype_slopes``, ``school_by_type``,
    ``covariates``, ``covariates_ml``), ``satterthwaite``, ``profile_intervals``, ``anova``,
    ``predict`` and ``grade1`` (the same model in grade 1, for a problem set), each with its R
    call (``r_call``). Chapter 23."""
    return _json_file("lme4_star.json")


def _json_file(filename: str) -> dict:
    """The JSON file ``lmm_teach/data/<filename>``, read whole."""
    return json.loads(resources.files("lmm_teach").joinpath("data").joinpath(filename).read_text())


def load_lme4_glmer_reference(name: str) -> dict:
    """One of lme4 1.1-31's ``glmer`` fits made by ``lme4_glmer.R`` (``lme4_glmer.json``):
    ``name`` is a case such as ``"cbpp_nAGQ1"``, ``"cbpp_nAGQ25"``, ``"verbagg"`` or
    ``"grouseticks_olre"``. The record holds the R call (``r_call``), ``loglik``, ``fixef``,
    ``se``, ``theta`` and more (``PROVENANCE.md``). Chapters 20-22."""
    return _case("lme4_glmer.json", name)


def load_glmer_quadrature_reference() -> dict:
    """The project's reference for cbpp's binomial GLMM (``lme4_glmer_reference.json``): lme4
    1.1-31's ``glmer`` fits with ``nAGQ = 1`` and ``25``, and the exact marginal
    log-likelihood at each fit's estimates by R's ``integrate``. Chapter 21."""
    return _json_file("lme4_glmer_reference.json")


def _case(filename: str, name: str) -> dict:
    """The case called ``name`` of a reference file with a ``"cases"`` list, or a ValueError
    naming the cases it has."""
    records = {case["name"]: case for case in _json_file(filename)["cases"]}
    if name not in records:
        raise ValueError(f"{filename} has no case {name!r}; it has {sorted(records)}")
    return records[name]


def _json_records(filename: str) -> dict[str, dict]:
    """The records of a reference file in ``lmm_teach/data``, keyed by their ``"dataset"``."""
    return {record["dataset"]: record for record in _json_file(filename)}


def _record(records: dict[str, dict], dataset: str, filename: str) -> dict:
    """``records[dataset]``, or a ValueError naming the datasets that ``filename`` holds."""
    if dataset not in records:
        raise ValueError(f"{filename} has no dataset {dataset!r}; it has {sorted(records)}")
    return records[dataset]


def load_lme4_reference(dataset: str, method: str) -> dict:
    """lme4 1.1-31's fit of ``dataset``'s typical model, by ``method`` ``"ML"`` or ``"REML"``.

    The R call is ``lmer(<formula>, data = <dataset>, REML = <method == "REML">)``; the formula
    is in the returned record's ``"formula"`` key. Fields are described in ``PROVENANCE.md``.
    """
    record = _record(_json_records("lme4_reference.json"), dataset, "lme4_reference.json")
    if method not in ("ML", "REML"):
        raise ValueError(f"method must be 'ML' or 'REML', not {method!r}")
    return {"formula": record["formula"], **record["fits"][method]}


def load_lmertest_reference(dataset: str) -> dict:
    """lmerTest 3.1-3's Satterthwaite table for ``dataset`` (``"sleepstudy"`` or ``"penicillin"``).

    The R call is ``summary(lmer(<formula>, data = <dataset>, REML = TRUE))$coefficients``, with
    lmerTest loaded; keys ``rows``, ``estimate``, ``se``, ``df``, ``t``, ``p``.
    """
    filename = "lmertest_satterthwaite_reference.json"
    return _record(_json_records(filename), dataset, filename)


def load_lme4_confint_reference(dataset: str) -> dict:
    """lme4 1.1-31's profile and Wald intervals (level 0.95) for ``dataset``'s ML fit.

    ``dataset`` is ``"sleepstudy"``, ``"penicillin"`` or ``"pastes"``; the R call is in the
    record's ``"r_call"`` key.
    """
    filename = "lme4_confint_reference.json"
    return _record(_json_records(filename), dataset, filename)


def load_lme4_predict_reference(name: str) -> dict:
    """lme4 1.1-31's predictions for one REML fit: ``name`` is ``"sleepstudy"``
    (``Reaction ~ Days + (Days | Subject)``), ``"sleep_interaction"`` (``Reaction ~ Days * arm
    + (1 | Subject)``, arm A for the first nine subjects in sorted order) or ``"penicillin"``.
    Keys: ``fitted`` and ``fixed`` (``predict(fit)`` and ``predict(fit, re.form = NA)`` on the
    data), ``newdata`` (columns as text), ``new`` and ``new_fixed`` (``predict(fit, newdata,
    allow.new.levels = TRUE)`` and with ``re.form = NA``). Made by ``lme4_predict.R``.
    Chapter 18."""
    return _case("lme4_predict.json", name)


def load_lme4_condvar_reference(dataset: str, method: str) -> dict:
    """lme4 1.1-31's conditional modes and conditional variances for ``dataset``'s fit.

    ``dataset`` is ``"rail"``, ``"sleepstudy"``, ``"penicillin"`` or ``"pastes"`` (their typical
    models), ``method`` ``"ML"`` or ``"REML"``. The R call is
    ``ranef(lmer(<formula>, data = <dataset>, REML = <method == "REML">), condVar = TRUE)``,
    made by ``lme4_condvar.R`` beside the JSON. The record holds ``formula``, ``theta``,
    ``sigma``, ``objective`` and, per grouping factor, ``levels``, ``columns``, ``modes``
    (levels x columns) and ``postVar`` (one columns x columns matrix per level: lme4's
    ``attr(ranef(...)[[g]], "postVar")``). Chapters 6, 11 and 12 compare with it.
    """
    filename = "lme4_condvar_reference.json"
    record = _record(_json_records(filename), dataset, filename)
    if method not in ("ML", "REML"):
        raise ValueError(f"method must be 'ML' or 'REML', not {method!r}")
    return {"formula": record["formula"], **record["fits"][method]}


def load_lme4_formula_reference(name: str, method: str) -> dict:
    """lme4 1.1-31's fit of one of chapter 14's formulas, by ``method`` ``"ML"`` or ``"REML"``.

    ``name`` is ``"power"`` (``I(Days^2)``), ``"factor"``, ``"log_response"``, ``"double_bar"``,
    ``"double_bar_factor"``, ``"scale"``, ``"poly"`` or ``"weights"``. The record holds
    ``formula``, ``dataset``, ``weights`` (a column name or None), the R call (``r_call``),
    ``loglik``, ``objective``, ``fixef``, ``se``, ``sigma``, ``theta`` (with lme4's
    ``theta_names``), ``nobs`` and lme4's ``X_columns``. Made by ``lme4_formulas.R``.
    """
    filename = "lme4_formula_reference.json"
    records = {record["name"]: record for record in _json_file(filename)}
    if name not in records:
        raise ValueError(f"{filename} has no model {name!r}; it has {sorted(records)}")
    if method not in ("ML", "REML"):
        raise ValueError(f"method must be 'ML' or 'REML', not {method!r}")
    record = records[name]
    return {key: record[key] for key in ("formula", "dataset", "weights")} | record["fits"][method]
