"""fit_glmm against lme4's glmer, and its errors (chapters 20-22).

References: ``lmm_teach/data/lme4_glmer.json``, made by ``lmm_teach/data/lme4_glmer.R`` with
lme4 1.1-31; each case holds its R call (``r_call``), quoted in the parameter ids below. The
issue's tolerances: log-likelihood to 2e-3, fixed effects to 2% of a standard error, theta to
1%. lme4's nAGQ = 1 standard errors come from a Hessian of a Laplace deviance whose factor L is
made from an earlier PIRLS iterate's weights; ours match the Laplace approximation with fully
converged modes (the case ``cbpp_exact_laplace``, computed in plain R with numDeriv) to 1e-3,
and lme4's to 1.5%.
"""

import json
import warnings
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import lmm_teach
from lmm_teach import data, fit_glmm
from lmm_teach.families import family
from lmm_teach.glmer import FormulaError, GlmmFit, glmm_deviance
from lmm_teach.pirls import pirls
from lmm_teach.quadrature import saturated_log_likelihood

CASES = {case["name"]: case for case in json.loads(
    resources.files("lmm_teach").joinpath("data", "lme4_glmer.json").read_text())["cases"]}
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
TEXT_COLUMNS = {"cbpp.csv": ["herd", "period"], "grouseticks.csv": ["INDEX", "BROOD",
                "LOCATION", "YEAR"], "verbagg.csv": ["id", "item"]}


def _frame(case: dict) -> pd.DataFrame:
    """The case's data, grouping columns as text, VerbAgg's r2 as 0/1 (as lme4_glmer.R)."""
    path = case["data_path"]
    if path.startswith("lmm_teach/"):
        frame = getattr(data, f"load_{case['data'].removesuffix('.csv')}")()
    else:
        text = {c: str for c in ("subject", "item", "site", "year", "group", "cond")}
        frame = pd.read_csv(resources.files("lmm_teach").parent / path, dtype=text)
    if case["data"] == "verbagg.csv":
        frame = frame.assign(r2=(frame["r2"] == "Y").astype(float))
    return frame


def _fit(case: dict) -> GlmmFit:
    weights = "size" if case["name"] == "cbpp_proportion" else None
    return fit_glmm(case["formula"], _frame(case), case["family"], case["nAGQ"], weights)


FITTED = {}


def _fitted(name: str) -> GlmmFit:
    if name not in FITTED:
        FITTED[name] = _fit(CASES[name])
    return FITTED[name]


COMPARED = ["cbpp_nAGQ1", "cbpp_nAGQ3", "cbpp_nAGQ9", "cbpp_nAGQ25", "cbpp_proportion",
            "verbagg", "grouseticks", "grouseticks_olre", "sim_binomial", "sim_poisson",
            "sim_slopes"]


def _lme4_loglik(case: dict, fit: GlmmFit) -> float:
    """Our log-likelihood on lme4's scale: for nAGQ > 1 lme4 drops the saturated model's."""
    if case["nAGQ"] == 1:
        return fit.loglik
    return fit.loglik - saturated_log_likelihood(family(fit.family), fit.design.y,
                                                 fit.design.weights)


def _loglik_at(case: dict, fit: GlmmFit) -> float:
    """Our log-likelihood at lme4's estimates (Laplace or AGQ, modes fully converged)."""
    x = np.concatenate([list(case["theta"].values()), list(case["fixef"].values())])
    return -glmm_deviance(fit.design, family(fit.family), case["nAGQ"])(x) / 2


def _lme4_loglik_fresh(case: dict, fit: GlmmFit) -> float:
    """lme4's Laplace log-likelihood with its log|L|^2 made at its final modes: lme4 1.1-31
    makes L from the weights of an earlier PIRLS iterate, which moves its logLik by up to
    5e-3 here (chapter 21). Its modes are ours to 1e-7; only that factor differs."""
    if case["nAGQ"] > 1:
        return case["loglik"]
    x = np.concatenate([list(case["theta"].values()), list(case["fixef"].values())])
    ours = pirls(x[:fit.theta.size], x[fit.theta.size:], fit.design, family(fit.family))
    np.testing.assert_allclose(ours.log_det_L2, case["ldL2"], rtol=5e-5)
    return case["loglik"] + (case["ldL2"] - ours.log_det_L2) / 2


@pytest.mark.parametrize("name", COMPARED, ids=[CASES[n]["r_call"] for n in COMPARED])
def test_fit_is_lme4s(name):
    case, fit = CASES[name], _fitted(name)
    se = np.array(list(case["se"].values()))
    np.testing.assert_allclose(_lme4_loglik(case, fit), _lme4_loglik_fresh(case, fit),
                               atol=2e-3)
    assert fit.loglik >= _loglik_at(case, fit) - 1e-6           # at least as high as lme4's
    error_in_se = (fit.beta_values - list(case["fixef"].values())) / se
    np.testing.assert_array_less(np.abs(error_in_se), 0.02)
    np.testing.assert_allclose(fit.theta, list(case["theta"].values()), rtol=1e-2, atol=1e-3)
    rtol = 1.5e-2 if case["nAGQ"] == 1 else 2e-3
    np.testing.assert_allclose(fit.se_beta, se, rtol=rtol)
    assert fit.nobs == case["nobs"] and fit.converged
    assert dict(fit.ngroups) == case["ngrps"]
    np.testing.assert_allclose(fit.aic - fit.deviance, case["aic"] + 2 * case["loglik"],
                               atol=1e-9)                      # 2 x the same count


def test_laplace_standard_errors_are_those_of_the_exact_laplace():
    """Minimized in plain R with fully converged modes, Hessian by numDeriv
    (``cbpp_exact_laplace`` in lme4_glmer.R)."""
    exact, fit = CASES["cbpp_exact_laplace"], _fitted("cbpp_nAGQ1")
    np.testing.assert_allclose(fit.se_beta, list(exact["se"].values()), rtol=1e-3)
    np.testing.assert_allclose(np.concatenate([fit.theta, fit.beta_values]), exact["par"],
                               atol=2e-4)
    np.testing.assert_allclose(fit.loglik, exact["loglik"], atol=1e-6)


def test_quadrature_loglik_is_rs_integrate():
    for name in ("cbpp_nAGQ9", "cbpp_nAGQ25"):
        np.testing.assert_allclose(_fitted(name).loglik,
                                   CASES[name]["marginal_loglik_by_integrate"], atol=2e-5)


def test_three_forms_of_a_binomial_response_agree():
    cbpp = data.load_cbpp()
    cbind = _fitted("cbpp_nAGQ1")
    proportion = fit_glmm("I(incidence/size) ~ period + (1 | herd)", cbpp, weights="size")
    rows = cbpp.loc[cbpp.index.repeat(cbpp["size"])].reset_index(drop=True)
    rows["sick"] = (rows.groupby(level=0).cumcount() < 0).astype(float)
    rank = rows.groupby(["herd", "period"], sort=False).cumcount()
    rows["sick"] = (rank < rows["incidence"]).astype(float)
    binary = fit_glmm("sick ~ period + (1 | herd)", rows)
    for other in (proportion, binary):
        np.testing.assert_allclose(other.beta_values, cbind.beta_values, atol=1e-4)
        np.testing.assert_allclose(other.theta, cbind.theta, rtol=1e-3)
    np.testing.assert_allclose(proportion.loglik, cbind.loglik, atol=1e-6)
    # 0/1 rows: the same likelihood but for the binomial coefficients log C(n, s)
    from scipy.special import gammaln
    log_choose = np.sum(gammaln(cbpp["size"] + 1) - gammaln(cbpp["incidence"] + 1)
                        - gammaln(cbpp["size"] - cbpp["incidence"] + 1))
    np.testing.assert_allclose(binary.loglik + log_choose, cbind.loglik, atol=2e-4)


def test_a_two_level_factor_response_is_read_as_lme4_reads_it():
    verbagg = data.load_verbagg()
    as_text = fit_glmm("r2 ~ Anger + (1 | item)", verbagg)
    as_number = fit_glmm("r2 ~ Anger + (1 | item)",
                         verbagg.assign(r2=(verbagg["r2"] == "Y").astype(float)))
    np.testing.assert_allclose(as_text.beta_values, as_number.beta_values, rtol=1e-10)


@pytest.mark.parametrize("name", ["cbpp_nAGQ1", "grouseticks_olre", "sim_slopes"])
def test_predictions_are_lme4s(name):
    case, fit = CASES[name], _fitted(name)
    newdata = pd.DataFrame(case["newdata"])
    for column in newdata.columns:
        if column in ("herd", "period", "INDEX", "BROOD", "LOCATION", "YEAR", "group"):
            newdata[column] = newdata[column].astype(str)
    reference = case["predict"]
    np.testing.assert_allclose(fit.predict(newdata), reference["link"], atol=2e-3)
    np.testing.assert_allclose(fit.predict(newdata, type="response"), reference["response"],
                               rtol=2e-3)
    np.testing.assert_allclose(fit.predict(newdata, random=False), reference["fixed_link"],
                               atol=2e-3)


def test_fitted_predictions_are_the_linear_predictor():
    fit = _fitted("cbpp_nAGQ1")
    frame = data.load_cbpp()
    np.testing.assert_allclose(fit.predict(), fit.predict(frame), atol=1e-12)
    np.testing.assert_allclose(fit.predict(type="response"), 1 / (1 + np.exp(-fit.predict())))


def test_fit_is_immutable_and_summarized():
    fit = _fitted("cbpp_nAGQ25")
    with pytest.raises(AttributeError):
        fit.loglik = 0.0
    with pytest.raises(ValueError):
        fit.beta_values[0] = 0.0
    text = fit.summary()
    assert "adaptive Gauss-Hermite quadrature, nagq = 25" in text
    assert "herd" in text and "z value" in text and f"{fit.loglik:.4f}" in text
    assert set(fit.ranef) == {"herd"} and fit.ranef["herd"].shape == (15, 1)
    assert list(fit.varcorr["grp"]) == ["herd"]
    np.testing.assert_allclose(fit.varcorr["sdcor"], fit.theta)


def _cbpp_with(**columns) -> pd.DataFrame:
    return data.load_cbpp().assign(**columns)


BAD = [
    ("poisson non-integer", dict(formula="y ~ 1 + (1 | herd)", family="poisson",
                                  data=_cbpp_with(y=lambda d: d.incidence + 0.5)),
     "whole numbers"),
    ("poisson negative", dict(formula="y ~ 1 + (1 | herd)", family="poisson",
                               data=_cbpp_with(y=lambda d: d.incidence - 3)), "negative"),
    ("binomial outside [0, 1]", dict(formula="incidence ~ period + (1 | herd)",
                                      data=data.load_cbpp()), "proportion in \\[0, 1\\]"),
    ("successes above trials", dict(formula="cbind(incidence, size - incidence - 5) ~ 1 "
                                    "+ (1 | herd)", data=data.load_cbpp()),
     "failures 'size - incidence - 5'.*negative.*successes above the trials"),
    ("non-integer successes", dict(formula="I(incidence/size) ~ 1 + (1 | herd)",
                                   data=data.load_cbpp(), weights=np.full(56, 2.5)),
     "whole numbers"),
    ("nagq with two terms", dict(formula="cbind(incidence, size - incidence) ~ 1 + (1 | herd)"
                                 " + (1 | period)", data=data.load_cbpp(), nagq=5),
     "single random term.*\\(1 \\| herd\\), \\(1 \\| period\\)"),
    ("nagq with a vector term", dict(formula="cbind(incidence, size - incidence) ~ x + "
                                     "(x | herd)", data=_cbpp_with(x=np.arange(56) % 4),
                                     nagq=3), "single random term with one column"),
    ("nagq zero", dict(formula=CBPP, data=data.load_cbpp(), nagq=0), "at least 1"),
    ("nagq not whole", dict(formula=CBPP, data=data.load_cbpp(), nagq=2.5), "whole number"),
    ("unknown family", dict(formula=CBPP, data=data.load_cbpp(), family="gamma"),
     "unknown family 'gamma'"),
    ("poisson weights", dict(formula="incidence ~ 1 + (1 | herd)", family="poisson",
                             data=data.load_cbpp(), weights="size"), "no weights"),
    ("cbind and weights", dict(formula=CBPP, data=data.load_cbpp(), weights="size"),
     "leave weights= out"),
    ("cbind of three", dict(formula="cbind(incidence, size, size) ~ 1 + (1 | herd)",
                            data=data.load_cbpp()), "two columns"),
    ("missing failures column", dict(formula="cbind(incidence, total - incidence) ~ 1 + "
                                     "(1 | herd)", data=data.load_cbpp()),
     "\\['total'\\] of the failures"),
    ("no trials", dict(formula="cbind(incidence, size - size) ~ 1 + (1 | herd)",
                       data=_cbpp_with(incidence=0)), "no trials"),
    ("three-level factor", dict(formula="resp ~ Anger + (1 | item)",
                                data=data.load_verbagg()), "'resp' is a factor"),
]


@pytest.mark.parametrize("label, arguments, message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_by_name(label, arguments, message):
    with pytest.raises(ValueError, match=message):
        fit_glmm(**arguments)


def test_predict_refuses_an_unknown_type():
    with pytest.raises(ValueError, match="'link' or 'response'"):
        _fitted("cbpp_nAGQ1").predict(type="probability")


def test_formula_error_is_a_value_error():
    assert issubclass(FormulaError, ValueError)


def test_a_singular_fit_warns_as_lme4_does():
    """Herds with no variance between them: theta at 0, a SingularFitWarning, fit.singular."""
    from lmm_teach.optimizer import SingularFitWarning

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"y": rng.binomial(1, 0.4, 400).astype(float),
                          "g": np.repeat([f"g{j}" for j in range(40)], 10)})
    with pytest.warns(SingularFitWarning, match="boundary"):
        fit = fit_glmm("y ~ 1 + (1 | g)", frame)
    assert fit.singular and fit.theta[0] < 1e-3 and "singular" in fit.summary()


def test_lmm_fit_names_fit_glmm_for_a_binomial_response():
    with pytest.raises(ValueError, match="fit_glmm"):
        lmm_teach.fit(CBPP, data.load_cbpp())
