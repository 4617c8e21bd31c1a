"""lme4's formula language against lme4 1.1-31 itself (chapter 14).

Every reference fit in tests/reference/lme4_formulas.json was made by
tests/reference/lme4_formulas.R as

    lmer(<formula>, data = <data>, REML = <FALSE|TRUE>[, weights = <w>])

(the R call is in each case's ``r_call``, and printed in the test ids below), on the CSV files in
tests/reference/data (see PROVENANCE.md there). Each case is read here from the same CSV file,
unchanged, so a failure means the formula was read differently from lme4. Together the cases use
every construct of the formula language: I(x^2) on an integer column, poly(), scale() with
missing values in another column, factor() of an integer code, log(), exp(), sqrt(), arithmetic
inside I() and inside functions, a transformed response (log(y), log(1 + y), sqrt(y)), a:b, a*b,
(a + b)^2, - 1, 0 +, a:b of two factors without their main effects (R's coding by indicators,
rank deficient), poly() crossed with a factor (R's column order), (x || g) with a number and with
a factor, (0 + a + b || g), nested groups a/b, a logical column with missing values, dotted names (Reaction.time, total.fruits), columns named C, Treatment, center, poly and
log, and prior weights (with missing values in the weights column).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmm_teach import fit
from lmm_teach.design import model_matrices
from lmm_teach.formula import lme4_coefficient_name
from lmm_teach.lmer import cov_beta
from lmm_teach.pls import profiled_deviance, sigma2_hat, solve_pls

REFERENCE_DIR = Path(__file__).parent / "reference"
REFERENCE = json.loads((REFERENCE_DIR / "lme4_formulas.json").read_text())

# (case, method) where the optimizer of commit 7bdb3ea (COBYQA from T = I) stopped before lme4's
# optimum: -2 loglik 11.3 above lme4's, although profiled_deviance at lme4's theta equals lme4's
# objective (issue 6, section 3). Such a case is an expected failure only while the fit is still
# short of lme4's optimum; the matrices are checked at lme4's theta by
# test_deviance_and_estimates_at_lme4_theta in every case.
OPTIMIZER_STOPS_EARLY = {("chick_log_star", "ML")}

CASES = [(case, method) for case in REFERENCE["cases"] for method in ("ML", "REML")]
IDS = [f"{case['name']}-{method}: {case['r_call']}" for case, method in CASES]


def load(name: str) -> pd.DataFrame:
    """A reference data set, read as pandas reads a CSV file (missing fields are NaN)."""
    return pd.read_csv(REFERENCE_DIR / "data" / f"{name}.csv")


def lme4_vectors(lme4: dict) -> tuple[list[str], np.ndarray, np.ndarray]:
    """lme4's fixed-effect names, estimates and standard errors."""
    names = list(lme4["fixef"])
    return names, np.array([lme4["fixef"][n] for n in names]), np.array([lme4["se"][n] for n in names])


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def case(request):
    return request.param


def test_deviance_and_estimates_at_lme4_theta(case):
    """The model matrices are lme4's: at lme4's theta, the same deviance, beta, sigma and SEs."""
    spec, method = case
    reml = method == "REML"
    lme4 = spec[method]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)          # rows dropped: tested elsewhere
        design = model_matrices(spec["formula"], load(spec["data"]), spec["weights"])
    theta = np.array(lme4["theta"], ndmin=1)
    # REMLcrit(fit) or deviance(fit), as lme4's getME(fit, "devcomp")$cmp
    np.testing.assert_allclose(profiled_deviance(theta, design, reml), lme4["objective"], atol=1e-6)
    solution = solve_pls(theta, design)
    sigma2 = sigma2_hat(solution.r2, *design.X.shape, reml)
    names, beta, se = lme4_vectors(lme4)
    assert [lme4_coefficient_name(n) for n in design.fixed_names] == names   # names(fixef(fit))
    np.testing.assert_allclose(solution.beta, beta, rtol=0, atol=1e-4 * se.min())   # fixef(fit)
    np.testing.assert_allclose(np.sqrt(sigma2), lme4["sigma"], rtol=1e-6)           # sigma(fit)
    np.testing.assert_allclose(np.sqrt(np.diag(cov_beta(solution, sigma2))), se, rtol=1e-5)
    assert design.y.shape[0] == lme4["nobs"]                                         # nobs(fit)


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def fitted(request):
    spec, method = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = fit(spec["formula"], load(spec["data"]), reml=method == "REML", weights=spec["weights"])
    short = result.loglik < spec[method]["loglik"] - 2e-3
    if (spec["name"], method) in OPTIMIZER_STOPS_EARLY and short:
        pytest.xfail("the optimizer stops before lme4's optimum (optimizer.py, issue 6 section 3)")
    return result, spec[method]


def test_fit_matches_lme4(fitted):
    """The whole fit: log-likelihood to 2e-3, beta to 1% of a SE, sigma to 1e-3 relative."""
    result, lme4 = fitted
    names, beta, se = lme4_vectors(lme4)
    np.testing.assert_allclose(result.loglik, lme4["loglik"], atol=2e-3)          # logLik(fit)
    assert [lme4_coefficient_name(n) for n in result.beta.index] == names         # names(fixef(fit))
    np.testing.assert_array_less(np.abs(result.beta.to_numpy() - beta), 0.01 * se)   # fixef(fit)
    np.testing.assert_allclose(result.se_beta.to_numpy(), se, rtol=1e-2)          # sqrt(diag(vcov(fit)))
    np.testing.assert_allclose(result.sigma, lme4["sigma"], rtol=1e-3)            # sigma(fit)
    assert result.nobs == lme4["nobs"]                                            # nobs(fit)
    assert sorted(result.ngroups.values()) == sorted(lme4["ngrps"].values())      # ngrps(fit)
    reference = pd.DataFrame(lme4["varcorr"])                                     # as.data.frame(VarCorr(fit))
    assert len(result.varcorr) == len(reference)


def test_weights_as_a_column_or_an_array_give_the_same_fit():
    # lmer(Reaction.time ~ Days + (Days | Subject), sleepstudy, weights = w, REML = FALSE)
    sleep = load("sleepstudy")
    lme4 = next(c for c in REFERENCE["cases"] if c["name"] == "sleep_weights")["ML"]
    by_name = fit("Reaction.time ~ Days + (Days | Subject)", sleep, reml=False, weights="w")
    by_array = fit("Reaction.time ~ Days + (Days | Subject)", sleep, reml=False, weights=sleep.w.to_numpy())
    np.testing.assert_allclose(by_name.loglik, lme4["loglik"], atol=2e-3)
    np.testing.assert_allclose(by_array.loglik, by_name.loglik, rtol=1e-12)


def test_scale_uses_the_rows_that_are_dropped():
    """R evaluates scale(age) on all 108 rows, then drops the 4 with a missing distance."""
    orthodont = load("orthodont")
    lme4 = next(c for c in REFERENCE["cases"] if c["name"] == "orthodont_scale_na")["ML"]
    with pytest.warns(UserWarning, match=r"dropped 4 row\(s\) with missing values in \['distance'\]"):
        as_r = fit("distance ~ scale(age) + Sex + (scale(age) | Subject)", orthodont, reml=False)
    complete = orthodont.dropna().reset_index(drop=True)
    after_drop = fit("distance ~ scale(age) + Sex + (scale(age) | Subject)", complete, reml=False)
    np.testing.assert_allclose(as_r.beta["(Intercept)"], lme4["fixef"]["(Intercept)"], rtol=1e-6)
    # Scaling after the drop centres age at another mean: the intercept moves by 4.6% of its
    # standard error (22.7077 instead of lme4's 22.6821), beyond the 1% the tests allow.
    shift = abs(after_drop.beta["(Intercept)"] - lme4["fixef"]["(Intercept)"])
    assert shift > 0.01 * lme4["se"]["(Intercept)"]
