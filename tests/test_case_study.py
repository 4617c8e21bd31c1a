"""Chapter 23's case study against lme4 1.1-31 and lmerTest 3.1-3.

The sample is the chapter's: mlmRev's Tennessee STAR data, the kindergarten rows, then the rows
with no missing value in the model's columns. Every number compared here was made by
``lmm_teach/data/lme4_star.R`` (``lme4_star.json``, each record with its R call); the R names of
the fixed effects (``cltypesmall``) are lmm_teach's (``cltype[T.small]``) written as R writes
them.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import lmm_teach
from lmm_teach import comparison, data, intervals
from lmm_teach.optimizer import SingularFitWarning

REFERENCE = data.load_lme4_star_reference()
COLUMNS = ["math", "cltype", "sx", "ses", "eth", "exp"]
COVARIATES = "cltype + sx + ses + minority + exp"
FORMULAS = {                     # the fits of lme4_star.R, by the same names
    "school": ("math ~ cltype + (1 | sch)", True),
    "classes": ("math ~ cltype + (1 | sch) + (1 | tch)", True),
    "small_slope": ("math ~ cltype + (1 + small | sch) + (1 | tch)", True),
    "school_by_type": ("math ~ cltype + (1 | sch) + (1 | sch:cltype) + (1 | tch)", True),
    "covariates": (f"math ~ {COVARIATES} + (1 | sch) + (1 | tch)", True),
    "covariates_ml": (f"math ~ {COVARIATES} + (1 | sch) + (1 | tch)", False),
}


def kindergarten_sample() -> pd.DataFrame:
    """The chapter's analysis sample (and lme4_star.R's)."""
    star = data.load_star()
    sample = star[star["gr"] == "K"].dropna(subset=COLUMNS).copy()
    sample["minority"] = np.where(sample["eth"] == "W", "no", "yes")
    sample["small"] = (sample["cltype"] == "small").astype(float)
    return sample


def r_name(name: str) -> str:
    """lmm_teach's ``cltype[T.small]`` as R's ``cltypesmall``."""
    return re.sub(r"\[T\.(.+)\]$", r"\1", name)


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return kindergarten_sample()


@pytest.fixture(scope="module")
def fits(sample) -> dict[str, lmm_teach.LmmFit]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        return {name: lmm_teach.fit(formula, sample, reml=reml)
                for name, (formula, reml) in FORMULAS.items()}


def test_the_sample_is_lme4s(sample):
    star = data.load_star()
    kinder = star[star["gr"] == "K"]
    expected = REFERENCE["sample"]
    assert len(star) == 26796
    assert len(kinder) == expected["kindergarten_rows"] == 6325
    assert kinder[COLUMNS].isna().sum().to_dict() == expected["missing_in_kindergarten"]
    assert len(sample) == expected["rows"] == 5832
    assert sample["sch"].nunique() == expected["schools"] == 79
    assert sample["tch"].nunique() == expected["classes"] == 322


def test_a_teacher_has_one_class_in_one_school(sample):
    assert (sample.groupby("tch")["sch"].nunique() == 1).all()
    assert (sample.groupby("tch")["cltype"].nunique() == 1).all()


@pytest.mark.parametrize("name", FORMULAS)
def test_fit_matches_lme4(fits, name):
    ours, theirs = fits[name], REFERENCE["fits"][name]
    assert ours.nobs == theirs["nobs"]
    assert ours.reml == theirs["reml"]
    np.testing.assert_allclose(ours.loglik, theirs["loglik"], atol=1e-3)
    se = pd.Series(theirs["se"])
    beta = pd.Series(theirs["fixef"])
    ours_beta = ours.beta.rename(index=r_name)[beta.index]
    ours_se = ours.se_beta.rename(index=r_name)[se.index]
    np.testing.assert_array_less(np.abs(ours_beta - beta), 0.01 * se)   # 1% of a se
    np.testing.assert_allclose(ours_se, se, rtol=2e-3)
    np.testing.assert_allclose(ours.sigma, theirs["sigma"], rtol=1e-4)
    assert ours.singular == theirs["singular"]


def test_standard_deviations_match_lme4(fits):
    for name in ("classes", "small_slope", "covariates", "covariates_ml"):
        ours = fits[name].varcorr
        theirs = pd.DataFrame(REFERENCE["fits"][name]["varcorr"])
        np.testing.assert_allclose(ours["sdcor"], theirs["sdcor"], rtol=2e-3, atol=2e-3,
                                   err_msg=name)


def test_school_by_type_variance_is_zero_as_in_lme4(fits):
    """The singular fit: the school-by-class-type variance is 0 in both, the rest unchanged."""
    varcorr = fits["school_by_type"].varcorr.set_index("grp")["sdcor"]
    assert varcorr["sch:cltype"] < 1e-3
    assert REFERENCE["fits"]["school_by_type"]["theta"][1] == 0
    np.testing.assert_allclose(fits["school_by_type"].loglik, fits["classes"].loglik,
                               atol=1e-6)


def test_unstructured_slopes_reach_at_least_lme4s_likelihood(sample):
    """lme4 stops on the boundary (a correlation of -1) with a convergence warning; lmm_teach's
    optimum is at least as high, and within 0.05 of it: the surface is flat there."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        ours = lmm_teach.fit("math ~ cltype + (1 + cltype | sch) + (1 | tch)", sample)
    theirs = REFERENCE["fits"]["cltype_slopes"]
    assert theirs["singular"]
    assert theirs["loglik"] - 1e-6 <= ours.loglik <= theirs["loglik"] + 0.05


def test_satterthwaite_matches_lmertest(fits):
    table = fits["covariates"].coef_table("satterthwaite").rename(index=r_name)
    theirs = REFERENCE["satterthwaite"]
    assert list(table.index) == theirs["terms"]
    np.testing.assert_allclose(table["df"], theirs["df"], rtol=1e-3)
    np.testing.assert_allclose(table["t"], theirs["t"], rtol=2e-3)
    np.testing.assert_allclose(table["p"], theirs["p"], rtol=2e-2)


def test_profile_intervals_match_lme4(fits):
    theirs = REFERENCE["profile_intervals"]
    names = ["sd_(Intercept)|tch", "sd_(Intercept)|sch", "sigma", "cltype[T.small]"]
    assert [r_name(n) for n in names] == theirs["parameters"]
    ours = np.array([intervals.profile_interval(fits["covariates_ml"], n, 0.95) for n in names])
    np.testing.assert_allclose(ours[:, 0], theirs["lower"], rtol=1e-4)
    np.testing.assert_allclose(ours[:, 1], theirs["upper"], rtol=1e-4)


@pytest.mark.parametrize("case, models, refit", [
    ("classes", ("school", "classes"), False),
    ("small_slope", ("classes", "small_slope"), False),
    ("school_by_type", ("classes", "school_by_type"), False),
    ("covariates", ("classes", "covariates"), True),
])
def test_likelihood_ratio_tests_match_lme4(fits, case, models, refit):
    table = comparison.anova(*(fits[m] for m in models), refit=refit)
    theirs = REFERENCE["anova"][case]
    np.testing.assert_allclose(table["logLik"], theirs["loglik"], atol=1e-3)
    np.testing.assert_allclose(table["Chisq"].iloc[1], theirs["chisq"], atol=2e-3)
    assert table["Df"].iloc[1] == theirs["df"]


def test_predictions_match_lme4(fits):
    theirs = REFERENCE["predict"]
    newdata = pd.DataFrame(theirs["newdata"])
    model = fits["covariates"]
    np.testing.assert_allclose(model.predict(newdata, random=False), theirs["population"],
                               rtol=1e-6)
    np.testing.assert_allclose(model.predict(newdata), theirs["conditional"], rtol=1e-5)
