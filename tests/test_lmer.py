"""The general engine against lme4 1.1-31 (lmm_teach/data/lme4_reference.json), and its errors.

Each reference row was made in R by
    fit <- lmer(<formula>, data = <dataset>, REML = <method == "REML">)
and read with logLik(fit), fixef(fit), sqrt(diag(vcov(fit))), sigma(fit), getME(fit, "theta"),
as.data.frame(VarCorr(fit)), nobs(fit) and ngrps(fit).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from lmm_teach import fit
from lmm_teach.data import (
    load_dyestuff,
    load_dyestuff2,
    load_lme4_reference,
    load_pastes,
    load_penicillin,
    load_rail,
    load_sleepstudy,
)
from lmm_teach.optimizer import SingularFitWarning

MODELS = [
    ("rail", load_rail, "travel ~ 1 + (1 | Rail)"),
    ("dyestuff", load_dyestuff, "Yield ~ 1 + (1 | Batch)"),
    ("dyestuff2", load_dyestuff2, "Yield ~ 1 + (1 | Batch)"),
    ("sleepstudy", load_sleepstudy, "Reaction ~ Days + (Days | Subject)"),
    ("penicillin", load_penicillin, "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ("pastes", load_pastes, "strength ~ 1 + (1 | batch/cask)"),
]
CASES = [(name, loader, formula, method) for name, loader, formula in MODELS for method in ("ML", "REML")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def fitted(request):
    name, loader, formula, method = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)   # Dyestuff2 is singular, as in lme4
        result = fit(formula, loader(), reml=method == "REML")
    return result, load_lme4_reference(name, method)


def test_loglik_and_deviance(fitted):
    result, lme4 = fitted
    np.testing.assert_allclose(result.loglik, lme4["loglik"], atol=1e-4)      # logLik(fit)
    # optimize_theta promises the optimum to 1e-6 in the deviance (REMLcrit(fit) / deviance(fit))
    np.testing.assert_allclose(result.deviance, lme4["objective"], atol=1e-6)


def test_fixed_effects_within_a_small_fraction_of_their_standard_errors(fitted):
    result, lme4 = fitted
    lme4_beta = np.array(list(lme4["fixef"].values()))                        # fixef(fit)
    lme4_se = np.array(list(lme4["se"].values()))                             # sqrt(diag(vcov(fit)))
    assert list(result.beta.index) == list(lme4["fixef"])
    np.testing.assert_array_less(np.abs(result.beta.to_numpy() - lme4_beta), 1e-3 * lme4_se)
    np.testing.assert_allclose(result.se_beta.to_numpy(), lme4_se, rtol=1e-3)


def test_sigma_theta_and_varcorr(fitted):
    result, lme4 = fitted
    np.testing.assert_allclose(result.sigma, lme4["sigma"], rtol=1e-4)         # sigma(fit)
    np.testing.assert_allclose(result.theta, np.atleast_1d(lme4["theta"]), rtol=2e-3, atol=1e-4)
    reference = pd.DataFrame(lme4["varcorr"])                                 # as.data.frame(VarCorr(fit))
    assert list(result.varcorr.grp) == list(reference.grp)
    assert list(result.varcorr.var1) == list(reference.var1)
    np.testing.assert_allclose(result.varcorr.sdcor, reference.sdcor, rtol=2e-3, atol=1e-4)


def test_counts(fitted):
    result, lme4 = fitted
    assert result.nobs == lme4["nobs"]                                        # nobs(fit)
    assert dict(result.ngroups) == lme4["ngrps"]                              # ngrps(fit)
    assert result.converged
    np.testing.assert_allclose(result.aic, lme4["objective"] + 2 * (len(result.beta) + result.theta.size + 1),
                               atol=2e-4)                                     # AIC(fit)


def test_dyestuff2_is_a_singular_fit():
    with pytest.warns(SingularFitWarning, match="boundary \\(singular\\) fit"):
        result = fit("Yield ~ 1 + (1 | Batch)", load_dyestuff2(), reml=False)
    assert result.singular and result.theta[0] == 0.0
    assert "boundary (singular) fit" in result.summary()


def test_ranef_tables():
    result = fit("Reaction ~ Days + (Days | Subject)", load_sleepstudy(), reml=False)
    table = result.ranef["Subject"]
    assert table.shape == (18, 2) and list(table.columns) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(table.mean(), 0.0, atol=1e-8)   # conditional modes sum to 0 here
    uncorrelated = fit("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", load_sleepstudy())
    assert list(uncorrelated.ranef["Subject"].columns) == ["(Intercept)", "Days"]
    assert list(uncorrelated.varcorr.grp) == ["Subject", "Subject.1", "Residual"]


def test_fit_is_immutable():
    result = fit("travel ~ 1 + (1 | Rail)", load_rail())
    with pytest.raises(AttributeError):
        result.loglik = 0.0
    beta, ranef, varcorr = result.beta, result.ranef["Rail"], result.varcorr
    beta.iloc[0], ranef.iloc[0, 0], varcorr.loc[0, "vcov"] = 0.0, 0.0, 0.0   # copies: the fit is unchanged
    assert result.beta.iloc[0] == pytest.approx(66.5)
    assert result.ranef["Rail"].iloc[0, 0] != 0.0 and result.varcorr.loc[0, "vcov"] > 600
    with pytest.raises(ValueError, match="read-only"):
        result.theta[0] = 0.0
    with pytest.raises(TypeError):
        result.ngroups["Rail"] = 7
    assert "REML criterion at convergence" in result.summary()
    assert repr(result).startswith("<LmmFit 'travel ~ 1 + (1 | Rail)' by REML")


def test_missing_values_are_dropped_with_a_warning():
    data = load_sleepstudy()
    holes = data.copy()
    holes.loc[[3, 50], "Reaction"] = np.nan
    holes.loc[7, "Days"] = np.nan
    with pytest.warns(UserWarning, match=r"dropped 3 row\(s\) with missing values in \['Reaction', 'Days'\]"):
        with_holes = fit("Reaction ~ Days + (Days | Subject)", holes)
    complete = fit("Reaction ~ Days + (Days | Subject)", data.drop(index=[3, 7, 50]))
    assert with_holes.nobs == 177
    np.testing.assert_allclose(with_holes.loglik, complete.loglik, rtol=1e-10)


def test_rank_deficient_columns_are_dropped_with_a_warning():
    data = load_sleepstudy().assign(Hours=lambda d: 24 * d.Days)
    with pytest.warns(UserWarning, match=r"rank deficient: dropped column\(s\) \['Hours'\]"):
        result = fit("Reaction ~ Days + Hours + (1 | Subject)", data)
    assert list(result.beta.index) == ["(Intercept)", "Days"]


BAD_INPUT = [
    (lambda d: d.to_dict(), "Reaction ~ Days + (1 | Subject)", TypeError, "must be a pandas DataFrame"),
    (lambda d: d.iloc[:0], "Reaction ~ Days + (1 | Subject)", ValueError, "no rows to fit"),
    (lambda d: d, "Reaction ~ Nights + (1 | Subject)", ValueError, r"column\(s\) \['Nights'\]"),
    (lambda d: d, "Reaction ~ Days + (Nights | Subject)", ValueError, r"column\(s\) \['Nights'\]"),
    (lambda d: d, "Reaction ~ Days + (1 | Person)", ValueError, r"column\(s\) \['Person'\]"),
    (lambda d: d, "Speed ~ Days + (1 | Subject)", ValueError, r"column\(s\) \['Speed'\]"),
    (lambda d: d.assign(Reaction=d.Reaction.astype(str)), "Reaction ~ Days + (1 | Subject)", ValueError,
     "response 'Reaction' must be numeric"),
    (lambda d: d.assign(Subject="308"), "Reaction ~ Days + (1 | Subject)", ValueError,
     "grouping factor 'Subject' has 1 level"),
    (lambda d: d.assign(Obs=range(180)), "Reaction ~ Days + (1 | Obs)", ValueError,
     "grouping factor 'Obs' has as many levels as observations"),
    # lme4: lmer(Reaction ~ 1 + (Days | Subject), transform(sleepstudy, Days = factor(Days)))
    # stops: "number of observations (=180) <= number of random effects (=180)"
    (lambda d: d.assign(Days=d.Days.astype(str)), "Reaction ~ 1 + (Days | Subject)", ValueError,
     r"\(Days \| Subject\) has 18 x 10 = 180 random effects for 180 observations"),
    (lambda d: d.assign(Days=d.Days.replace(9, np.inf)), "Reaction ~ Days + (1 | Subject)", ValueError,
     "column 'Days' holds infinite values"),
    (lambda d: d.assign(Reaction=250.0), "Reaction ~ Days + (1 | Subject)", ValueError,
     "fit the response 'Reaction' exactly"),
    (lambda d: d, "Reaction ~ Days + (1 | )", ValueError, "empty grouping factor"),
    (lambda d: d, "Reaction ~ Days + (1 | Subject", ValueError, "unbalanced parentheses"),
    (lambda d: d, "Reaction ~ Days", ValueError, "no random-effects term"),
]


@pytest.mark.parametrize("change, formula, error, message", BAD_INPUT)
def test_bad_input_gets_a_clear_error(change, formula, error, message):
    with pytest.raises(error, match=message):
        fit(formula, change(load_sleepstudy()))


def test_reml_must_be_a_bool():
    with pytest.raises(TypeError, match="reml must be True or False"):
        fit("travel ~ 1 + (1 | Rail)", load_rail(), reml="yes")


def test_no_fixed_effects():
    # R: lmer(travel ~ 0 + (1 | Rail), Rail, REML = FALSE): logLik -71.0495, theta 17.47005
    result = fit("travel ~ 0 + (1 | Rail)", load_rail(), reml=False)
    np.testing.assert_allclose(result.loglik, -71.0495, atol=5e-5)
    np.testing.assert_allclose(result.theta, [17.47005], rtol=1e-5)
    assert result.beta.empty and "Fixed effects:\n none" in result.summary()


def test_warnings_point_at_the_callers_line():
    # Whichever stage is called, a warning names the reader's line, not lmm_teach's internals.
    from lmm_teach.design import model_matrices
    from lmm_teach.optimizer import optimize_theta
    holes = load_sleepstudy()
    holes.loc[3, "Reaction"] = np.nan
    with pytest.warns(UserWarning, match="dropped 1 row") as from_fit:
        fit("Reaction ~ Days + (Days | Subject)", holes)
    with pytest.warns(SingularFitWarning) as from_stage:
        optimize_theta(model_matrices("Yield ~ 1 + (1 | Batch)", load_dyestuff2()), reml=False)
    assert {w.filename for w in [*from_fit, *from_stage]} == {__file__}
