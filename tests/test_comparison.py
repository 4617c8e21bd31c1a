"""Comparing models (lmm_teach.comparison): lme4's anova table, the refits by ML, the
boundary mixture, and the parametric-bootstrap likelihood-ratio test.

Reference: tests/reference/lme4_anova.json, made by tests/reference/lme4_anova.R.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from lmm_teach import data, fit
from lmm_teach.comparison import anova, bootstrap_lrt, mixture_p_value, n_parameters

ANOVA = {case["name"]: case for case in json.loads(
    (Path(__file__).parent / "reference" / "lme4_anova.json").read_text())["cases"]}
COLUMNS = {"npar": "npar", "AIC": "AIC", "BIC": "BIC", "logLik": "logLik",
           "deviance": "deviance", "Chisq": "Chisq", "Df": "Df", "p": "Pr(>Chisq)"}


def _fits(name: str, reml: bool | None = None):
    case = ANOVA[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [fit(f, data.load_sleepstudy(), reml=case["reml"] if reml is None else reml)
                for f in case["formulas"]]


def _check(table, case):
    for row, reference in zip(table.to_dict("records"), case["rows"]):
        for ours, theirs in COLUMNS.items():
            if reference[theirs] is None:
                assert np.isnan(row[ours])
            elif ours == "p":
                assert row[ours] == pytest.approx(reference[theirs], rel=1e-4)
            else:
                assert row[ours] == pytest.approx(reference[theirs], rel=1e-7, abs=1e-6)


@pytest.mark.parametrize("name, refit", [("random_part_refit", True),
                                         ("random_part_reml", False),
                                         ("random_part_reml", "auto"),
                                         ("fixed_part_ml", "auto")])
def test_anova_is_lme4s(name, refit):
    table = anova(*_fits(name), refit=refit)
    _check(table, ANOVA[name])
    expected = {"random_part_refit": "ML (refitted from REML)", "random_part_reml": "REML",
                "fixed_part_ml": "ML"}[name]
    assert set(table["fit"]) == {expected}                          # the table says how


def test_reml_fits_with_different_fixed_effects_are_refitted_by_ml():
    """Same models as fixed_part_ml, fitted by REML: 'auto' refits them, and the table is
    lme4's ML table; refit=False refuses to compare their REML criteria."""
    fits = _fits("fixed_part_ml", reml=True)
    table = fits[1].anova(fits[0])                                  # the method; any order
    _check(table, ANOVA["fixed_part_ml"])
    assert set(table["fit"]) == {"ML (refitted from REML)"}
    with pytest.raises(ValueError, match="different fixed effects cannot be compared"):
        anova(*fits, refit=False)


def test_bad_comparisons_are_refused():
    fits = _fits("random_part_reml")
    with pytest.raises(ValueError, match="two or more fits"):
        anova(fits[0])
    with pytest.raises(TypeError, match="results of lmm_teach.fit"):
        anova(fits[0], "Reaction ~ Days + (1 | Subject)")
    with pytest.raises(ValueError, match="refit must be one of"):
        anova(*fits, refit="yes")
    other = fit("Reaction ~ Days + (1 | Subject)", data.load_sleepstudy().iloc[:170])
    with pytest.raises(ValueError, match="different data"):
        anova(fits[0], other)
    ml = fit("Reaction ~ Days + (1 | Subject)", data.load_sleepstudy(), reml=False)
    with pytest.raises(ValueError, match="mix ML and REML"):
        anova(ml, fits[1])


def test_npar_counts_fixed_effects_theta_and_sigma():
    small, large = _fits("random_part_reml")
    assert (n_parameters(small), n_parameters(large)) == (4, 6)


def test_the_boundary_mixture_halves_the_naive_p_value():
    assert mixture_p_value(3.0, 1) == pytest.approx(0.5 * stats.chi2.sf(3.0, 1))
    assert mixture_p_value(5.0, 2) == pytest.approx(
        0.5 * stats.chi2.sf(5.0, 1) + 0.5 * stats.chi2.sf(5.0, 2))
    assert mixture_p_value(0.0, 1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="df must be at least 1"):
        mixture_p_value(1.0, 0)


def test_the_mixture_is_the_null_distribution_of_a_boundary_test():
    """Simulated from sleepstudy's random-intercept model, the LRT for an added slope
    variance (uncorrelated) is 0 in at least about half the replicates, as the 50:50 mixture
    of chi2_0 and chi2_1 says in the limit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = fit("Reaction ~ Days + (1 | Subject)", data.load_sleepstudy(), reml=False)
        alternative = fit("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
                          data.load_sleepstudy(), reml=False)
    result = bootstrap_lrt(null, alternative, nsim=200, seed=3, progress=False)
    zeros = np.mean(result["replicates"] < 1e-6)
    # half in the limit; a little more in finite samples (Crainiceanu and Ruppert 2004)
    assert 0.5 - 3 * np.sqrt(0.25 / 200) < zeros < 0.75
    positive = result["replicates"][result["replicates"] >= 1e-6]
    # the positive half follows chi2_1: its median is chi2_1's, 0.455, within Monte Carlo error
    assert abs(np.median(positive) - stats.chi2.ppf(0.5, 1)) < 0.25


def test_bootstrap_lrt_is_reproducible_and_rejects_a_needed_slope():
    small, large = _fits("random_part_reml")
    first = bootstrap_lrt(small, large, nsim=40, seed=11, progress=False)
    second = bootstrap_lrt(small, large, nsim=40, seed=11, progress=False)
    np.testing.assert_array_equal(first["replicates"], second["replicates"])
    assert first["chisq"] == pytest.approx(ANOVA["random_part_refit"]["rows"][1]["Chisq"],
                                           rel=1e-6)
    assert first["p"] == pytest.approx(1 / 41)          # no replicate reaches 42
