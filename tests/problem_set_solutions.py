"""Solutions of the problem sets (book/problem_sets.md), one function per problem, for
instructors. They are not in the built book; tests/test_problem_sets.py checks every answer
on every test run, against lme4's numbers stored in the package where lme4 computed them.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

import lmm_teach
from lmm_teach import data
from lmm_teach.blocked import blocked_deviance
from lmm_teach.henderson import solve_mme
from lmm_teach.ml import fit_ml
from lmm_teach.model import random_intercept_matrices
from lmm_teach.pls import profiled_deviance


def problem_1_1() -> dict:
    """Dyestuff by ML with Part I's functions: the variances, log-likelihood and ICC."""
    mats = random_intercept_matrices(data.load_dyestuff(), response="Yield", group="Batch")
    fit = fit_ml(mats.X, mats.Z, mats.y)
    icc = fit.sigma2_b / (fit.sigma2_b + fit.sigma2)
    return {"sigma2_b": fit.sigma2_b, "sigma2": fit.sigma2, "loglik": fit.loglik, "icc": icc}


def problem_1_2() -> dict:
    """Rail's conditional modes from Henderson's equations and from the shrinkage formula."""
    rail = data.load_rail()
    mats = random_intercept_matrices(rail, response="travel", group="Rail")
    fit = fit_ml(mats.X, mats.Z, mats.y)
    psi = fit.sigma2_b * np.eye(mats.Z.shape[1])
    _, b_hat = solve_mme(mats.y, mats.X, mats.Z, psi, fit.sigma2)
    n_j = mats.Z.sum(axis=0)
    lam = fit.sigma2_b / (fit.sigma2_b + fit.sigma2 / n_j)
    means = (mats.Z.T @ mats.y) / n_j
    return {"henderson": b_hat, "formula": lam * (means - fit.beta[0]), "lambda": lam}


def problem_2_1() -> dict:
    """Penicillin by REML: theta, sigma and the two standard deviations."""
    fit = lmm_teach.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", data.load_penicillin())
    sd = fit.varcorr.set_index("grp")["sdcor"]
    return {"theta": fit.theta, "sigma": fit.sigma, "sd_plate": sd["plate"],
            "sd_sample": sd["sample"]}


def problem_2_2() -> dict:
    """The correlation of sleepstudy's random intercepts and slopes, tested by ML."""
    sleep = data.load_sleepstudy()
    correlated = lmm_teach.fit("Reaction ~ Days + (Days | Subject)", sleep, reml=False)
    uncorrelated = lmm_teach.fit("Reaction ~ Days + (Days || Subject)", sleep, reml=False)
    statistic = 2 * (correlated.loglik - uncorrelated.loglik)
    return {"loglik_correlated": correlated.loglik, "loglik_uncorrelated": uncorrelated.loglik,
            "statistic": statistic, "p": stats.chi2.sf(statistic, 1)}


def problem_3_1() -> dict:
    """Satterthwaite's degrees of freedom and p-value of sleepstudy's Days effect (REML)."""
    fit = lmm_teach.fit("Reaction ~ Days + (Days | Subject)", data.load_sleepstudy())
    table = fit.coef_table("satterthwaite")
    return {"df": table.loc["Days", "df"], "p": table.loc["Days", "p"]}


def problem_3_2() -> dict:
    """The 95% profile interval of the intercepts' sd and the Wald interval of Days (ML)."""
    fit = lmm_teach.fit("Reaction ~ Days + (Days | Subject)", data.load_sleepstudy(),
                        reml=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        profile = fit.confint("profile")
    wald = fit.confint("wald")
    return {"sd_intercept": profile.loc["sd_(Intercept)|Subject"].to_numpy(),
            "days_wald": wald.loc["Days"].to_numpy()}


def problem_4_1() -> dict:
    """The REML criterion of Penicillin's model by the readable and the fast engine."""
    design = lmm_teach.design.model_matrices("diameter ~ 1 + (1 | plate) + (1 | sample)",
                                             data.load_penicillin())
    points = [np.array(t) for t in ([1.0, 1.0], [0.5, 2.0], [2.0, 0.1])]
    readable = [profiled_deviance(theta, design, True) for theta in points]
    fast = [blocked_deviance(theta, design, True) for theta in points]
    return {"readable": np.array(readable), "fast": np.array(fast)}


def problem_5_1() -> dict:
    """cbpp with 9 adaptive Gauss-Hermite nodes against the Laplace fit."""
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    agq = lmm_teach.fit_glmm(formula, data.load_cbpp(), nagq=9)
    laplace = lmm_teach.fit_glmm(formula, data.load_cbpp())
    return {"loglik": agq.loglik, "theta": agq.theta[0], "loglik_laplace": laplace.loglik,
            "theta_laplace": laplace.theta[0]}


def problem_5_2() -> dict:
    """grouseticks with an observation-level effect: the rate ratio of 1996 against 1995."""
    fit = lmm_teach.fit_glmm("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION) "
                             "+ (1 | INDEX)", data.load_grouseticks(), family="poisson")
    beta, se = fit.beta["YEAR[T.96]"], fit.se_beta["YEAR[T.96]"]
    z = stats.norm.ppf(0.975)
    return {"ratio": np.exp(beta), "interval": np.exp([beta - z * se, beta + z * se])}


STAR_COLUMNS = ["math", "cltype", "sx", "ses", "eth", "exp"]
STAR_MODEL = "math ~ cltype + sx + ses + minority + exp + (1 | sch) + (1 | tch)"


def star_sample(grade: str):
    """Chapter 23's sample of one grade: complete in the model's columns, with ``minority``."""
    star = data.load_star()
    sample = star[star["gr"] == grade].dropna(subset=STAR_COLUMNS).copy()
    sample["minority"] = np.where(sample["eth"] == "W", "no", "yes")
    return sample


def problem_6_1() -> dict:
    """STAR's grade 1: the small-class effect and the class and school standard deviations."""
    sample = star_sample("1")
    fit = lmm_teach.fit(STAR_MODEL, sample)
    row = fit.coef_table("satterthwaite").loc["cltype[T.small]"]
    sd = fit.varcorr.set_index("grp")["sdcor"]
    return {"pupils": len(sample), "classes": sample["tch"].nunique(),
            "schools": sample["sch"].nunique(), "effect": row["estimate"], "se": row["se"],
            "df": row["df"], "p": row["p"], "sd_class": sd["tch"], "sd_school": sd["sch"]}


def problem_6_2() -> dict:
    """Kindergarten: the likelihood-ratio test of both class-type coefficients, by ML."""
    sample = star_sample("K")
    full = lmm_teach.fit(STAR_MODEL, sample, reml=False)
    null = lmm_teach.fit(STAR_MODEL.replace("cltype + ", ""), sample, reml=False)
    chisq = 2 * (full.loglik - null.loglik)
    return {"chisq": chisq, "df": 2, "p": stats.chi2.sf(chisq, 2)}

