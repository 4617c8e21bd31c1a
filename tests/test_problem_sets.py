"""The problem sets' solutions (tests/problem_set_solutions.py) checked, each against lme4's or
lmerTest's numbers stored in the package (the R call is in each reference's record) or an
identity of the derivation. book/problem_sets.md states the problems."""

import re
from pathlib import Path

import numpy as np

import problem_set_solutions as solutions
from lmm_teach import data

ROOT = Path(__file__).resolve().parent.parent


def test_every_problem_has_a_solution():
    page = (ROOT / "book" / "problem_sets.md").read_text()
    stated = re.findall(r"^\*\*([IV]+)\.(\d) ", page, flags=re.MULTILINE)
    roman = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}
    assert len(stated) >= 9 and {number for number, _ in stated} == set(roman)
    for number, k in stated:
        assert hasattr(solutions, f"problem_{roman[number]}_{k}"), f"{number}.{k}"
    assert "file: book/problem_sets" in (ROOT / "_toc.yml").read_text()


def test_1_1_dyestuff_by_ml_is_lme4s():
    # lmer(Yield ~ 1 + (1|Batch), Dyestuff, REML = FALSE)
    answer, lme4 = solutions.problem_1_1(), data.load_lme4_reference("dyestuff", "ML")
    vcov = {row["grp"]: row["vcov"] for row in lme4["varcorr"]}
    np.testing.assert_allclose(answer["sigma2_b"], vcov["Batch"], rtol=1e-4)
    np.testing.assert_allclose(answer["sigma2"], vcov["Residual"], rtol=1e-4)
    np.testing.assert_allclose(answer["loglik"], lme4["loglik"], atol=1e-6)
    np.testing.assert_allclose(answer["icc"], vcov["Batch"] / sum(vcov.values()), rtol=1e-4)


def test_1_2_the_two_routes_to_the_modes_agree():
    answer = solutions.problem_1_2()
    np.testing.assert_allclose(answer["henderson"], answer["formula"], rtol=1e-10)
    assert np.all((0 < answer["lambda"]) & (answer["lambda"] < 1))


def test_2_1_penicillin_by_reml_is_lme4s():
    # lmer(diameter ~ 1 + (1|plate) + (1|sample), Penicillin)
    answer, lme4 = solutions.problem_2_1(), data.load_lme4_reference("penicillin", "REML")
    np.testing.assert_allclose(answer["theta"], lme4["theta"], rtol=1e-4)
    np.testing.assert_allclose(answer["sigma"], lme4["sigma"], rtol=1e-5)
    assert answer["sd_sample"] > answer["sd_plate"]


def test_2_2_the_correlation_test_uses_lme4s_logliks():
    # lmer(Reaction ~ Days + (Days|Subject), ...) and (Days || Subject), REML = FALSE
    answer = solutions.problem_2_2()
    correlated = data.load_lme4_reference("sleepstudy", "ML")["loglik"]
    uncorrelated = data.load_lme4_formula_reference("double_bar", "ML")["loglik"]
    np.testing.assert_allclose(answer["loglik_correlated"], correlated, atol=1e-5)
    np.testing.assert_allclose(answer["loglik_uncorrelated"], uncorrelated, atol=1e-5)
    np.testing.assert_allclose(answer["statistic"], 2 * (correlated - uncorrelated), atol=2e-5)
    assert answer["p"] > 0.5


def test_3_1_satterthwaite_is_lmertests():
    # summary(lmerTest::lmer(Reaction ~ Days + (Days|Subject), sleepstudy))
    answer, reference = solutions.problem_3_1(), data.load_lmertest_reference("sleepstudy")
    days = reference["rows"].index("Days")
    np.testing.assert_allclose(answer["df"], reference["df"][days], rtol=1e-3)
    np.testing.assert_allclose(answer["p"], reference["p"][days], rtol=1e-3)


def test_3_2_intervals_are_lme4s():
    # confint(lmer(..., REML = FALSE), method = "profile" | "Wald")
    answer, reference = solutions.problem_3_2(), data.load_lme4_confint_reference("sleepstudy")
    row = reference["rows"].index("sd_(Intercept)|Subject")
    np.testing.assert_allclose(answer["sd_intercept"], [reference["profile_lower"][row],
                                                        reference["profile_upper"][row]],
                               rtol=1e-4)
    days = reference["wald_rows"].index("Days")
    np.testing.assert_allclose(answer["days_wald"], [reference["wald_lower"][days],
                                                     reference["wald_upper"][days]], rtol=1e-4)


def test_4_1_the_engines_agree():
    answer = solutions.problem_4_1()
    np.testing.assert_allclose(answer["fast"], answer["readable"], rtol=1e-10)


def test_5_1_nine_nodes_are_lme4s_and_rs_integrate():
    # glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial, nAGQ = 9)
    answer, lme4 = solutions.problem_5_1(), data.load_lme4_glmer_reference("cbpp_nAGQ9")
    np.testing.assert_allclose(answer["loglik"], lme4["marginal_loglik_by_integrate"],
                               atol=2e-5)
    np.testing.assert_allclose(answer["theta"], list(lme4["theta"].values())[0], rtol=1e-3)
    assert answer["loglik"] > answer["loglik_laplace"] and answer["theta"] > \
        answer["theta_laplace"]


def test_5_2_the_rate_ratio_is_lme4s():
    # glmer(TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|LOCATION) + (1|INDEX), poisson)
    answer = solutions.problem_5_2()
    lme4 = data.load_lme4_glmer_reference("grouseticks_olre")
    beta, se = lme4["fixef"]["YEAR96"], lme4["se"]["YEAR96"]
    np.testing.assert_allclose(answer["ratio"], np.exp(beta), rtol=1e-3)
    np.testing.assert_allclose(answer["interval"], np.exp([beta - 1.959964 * se,
                                                           beta + 1.959964 * se]), rtol=2e-3)


def test_6_1_grade_one_is_lmertests():
    # lmerTest::lmer(math ~ cltype + sx + ses + minority + exp + (1 | sch) + (1 | tch),
    #                data = grade1)           (lme4_star.R)
    answer, reference = solutions.problem_6_1(), data.load_lme4_star_reference()["grade1"]
    assert answer["pupils"] == reference["nobs"]
    assert (answer["classes"], answer["schools"]) == (reference["ngrps"]["tch"],
                                                      reference["ngrps"]["sch"])
    small = reference["satterthwaite"]["terms"].index("cltypesmall")
    np.testing.assert_allclose(answer["effect"], reference["fixef"]["cltypesmall"],
                               atol=0.01 * reference["se"]["cltypesmall"])
    np.testing.assert_allclose(answer["se"], reference["se"]["cltypesmall"], rtol=2e-3)
    np.testing.assert_allclose(answer["df"], reference["satterthwaite"]["df"][small], rtol=1e-3)
    np.testing.assert_allclose(answer["p"], reference["satterthwaite"]["p"][small], rtol=2e-2)
    sd = {row["grp"]: row["sdcor"] for row in reference["varcorr"]}
    np.testing.assert_allclose([answer["sd_class"], answer["sd_school"]],
                               [sd["tch"], sd["sch"]], rtol=2e-3)


def test_6_2_the_class_type_test_is_lme4s():
    # anova(lmer(math ~ sx + ses + minority + exp + (1|sch) + (1|tch)), fits$covariates)
    answer = solutions.problem_6_2()
    reference = data.load_lme4_star_reference()["anova"]["class_type"]
    np.testing.assert_allclose(answer["chisq"], reference["chisq"], atol=2e-3)
    assert answer["df"] == reference["df"]
    np.testing.assert_allclose(answer["p"], reference["p"], rtol=1e-3)

