"""Chapter 6: maximum likelihood, checked against lme4 1.1-31 (lmm_teach/data/lme4_reference.json).

Reference numbers are copied here, with the R call that made them, so that a failing test shows
what it expected. ``load_lme4_reference`` reads the same file; a test below checks they agree.
"""

import dataclasses

import numpy as np
import pytest
import statsmodels.formula.api as smf

from lmm_teach.data import load_dyestuff, load_dyestuff2, load_lme4_reference, load_rail, load_sleepstudy
from lmm_teach.henderson import cov_beta_mme
from lmm_teach.ml import MLFit, fit_ml, profile_log_likelihood, variances_from_phi
from lmm_teach.model import random_intercept_matrices, random_intercept_psi


@pytest.fixture(scope="module")
def rail_fit(rail) -> MLFit:
    return fit_ml(rail.X, rail.Z, rail.y)


def test_rail_ml_matches_lme4(rail_fit):
    # R: library(lme4); library(nlme); data(Rail)
    #    fit <- lmer(travel ~ 1 + (1 | Rail), data = Rail, REML = FALSE)
    np.testing.assert_allclose(rail_fit.loglik, -64.2800184692174, atol=1e-7)   # logLik(fit)
    np.testing.assert_allclose(rail_fit.beta, [66.5000000000002], rtol=1e-8)     # fixef(fit)
    np.testing.assert_allclose(rail_fit.se_beta, [9.28484431679242], rtol=1e-5)  # sqrt(diag(vcov(fit)))
    np.testing.assert_allclose(rail_fit.sigma2, 4.02077935298227**2, rtol=1e-5)  # sigma(fit)^2
    np.testing.assert_allclose(rail_fit.sigma2_b, 511.861115053991, rtol=1e-5)   # VarCorr(fit)
    np.testing.assert_allclose(np.sqrt(rail_fit.sigma2_b / rail_fit.sigma2),
                               5.6268563507015, rtol=1e-5)                       # getME(fit, "theta")
    assert rail_fit.converged


def test_reference_copies_agree_with_the_shipped_file():
    record = load_lme4_reference("rail", "ML")
    assert record["loglik"] == -64.2800184692174 and record["se"]["(Intercept)"] == 9.28484431679242


def test_rail_reml_row_from_part_one_pieces(rail):
    # R: fit <- lmer(travel ~ 1 + (1 | Rail), data = Rail, REML = TRUE)
    # At lme4's REML variances (VarCorr(fit): 615.311112033272 and 16.166666656695), the GLS
    # covariance gives lme4's REML standard error, and Harville's (1977) restricted likelihood
    # l_R = l_p - 1/2 log|X'V^-1 X| + p/2 log(2 pi) gives logLik(fit) = -61.0885004042988.
    sigma2_b, sigma2 = 615.311112033272, 16.166666656695
    cov = cov_beta_mme(rail.X, rail.Z, random_intercept_psi(sigma2_b, 6), sigma2)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), [10.1710373194253], rtol=1e-8)  # sqrt(diag(vcov(fit)))
    l_p = profile_log_likelihood(np.log([sigma2_b, sigma2]), rail.X, rail.Z, rail.y)
    l_R = l_p + 0.5 * np.linalg.slogdet(cov)[1] + 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(l_R, -61.0885004042988, atol=1e-8)


def test_dyestuff_ml_matches_lme4():
    # R: fit <- lmer(Yield ~ 1 + (1 | Batch), data = Dyestuff, REML = FALSE)
    mats = random_intercept_matrices(load_dyestuff(), "Yield", "Batch")
    fit = fit_ml(mats.X, mats.Z, mats.y)
    np.testing.assert_allclose(fit.loglik, -163.663529940568, atol=1e-7)   # logLik(fit)
    np.testing.assert_allclose(fit.beta, [1527.5], rtol=1e-8)              # fixef(fit)
    np.testing.assert_allclose(fit.se_beta, [17.6945534656666], rtol=1e-5)  # sqrt(diag(vcov(fit)))
    np.testing.assert_allclose(fit.sigma2_b, 1388.33333414577, rtol=1e-4)  # VarCorr(fit)
    np.testing.assert_allclose(fit.sigma2, 2451.24999975121, rtol=1e-5)    # sigma(fit)^2


def test_dyestuff2_creeps_towards_the_boundary():
    # R: fit <- lmer(Yield ~ 1 + (1 | Batch), data = Dyestuff2, REML = FALSE)
    # logLik(fit) = -81.4365183269129 with a batch variance of exactly 0. The log-variance
    # parametrization can only approach it: a tiny variance, a log-likelihood just below lme4's.
    mats = random_intercept_matrices(load_dyestuff2(), "Yield", "Batch")
    fit = fit_ml(mats.X, mats.Z, mats.y)
    assert fit.loglik <= -81.4365183269129 + 1e-9
    np.testing.assert_allclose(fit.loglik, -81.4365183269129, atol=1e-4)
    assert fit.sigma2_b < 1e-2 * fit.sigma2
    np.testing.assert_allclose(fit.sigma2, 13.3460993066667, rtol=1e-3)    # sigma(fit)^2


def test_sleepstudy_random_intercept_matches_statsmodels(sleep):
    # No lme4 row for this model; statsmodels MixedLM(reml=False) is the reference.
    frame = load_sleepstudy()
    reference = smf.mixedlm("Reaction ~ Days", frame, groups=frame["Subject"]).fit(reml=False)
    fit = fit_ml(sleep.X, sleep.Z, sleep.y)
    np.testing.assert_allclose(fit.loglik, reference.llf, atol=1e-6)
    np.testing.assert_allclose(fit.beta, reference.fe_params, rtol=1e-6)
    np.testing.assert_allclose(fit.se_beta, reference.bse_fe, rtol=1e-4)
    # statsmodels stops about 1e-4 (relative) short of the optimum in the variances: a tight
    # Nelder-Mead on l_p gives sigma2_b = 1296.870, as fit_ml does, and statsmodels 1296.724.
    np.testing.assert_allclose([fit.sigma2_b, fit.sigma2],
                               [reference.cov_re.iloc[0, 0], reference.scale], rtol=3e-4)


def test_profile_gradient_vanishes_at_the_optimum(rail, rail_fit):
    h = 1e-5
    steps = np.eye(2) * h
    gradient = [(profile_log_likelihood(rail_fit.phi + s, rail.X, rail.Z, rail.y)
                 - profile_log_likelihood(rail_fit.phi - s, rail.X, rail.Z, rail.y)) / (2 * h)
                for s in steps]
    np.testing.assert_allclose(gradient, 0.0, atol=1e-4)


def test_profile_is_the_maximum_over_beta(rail, rail_fit):
    # l_p(phi) (eq-profile) is at least l(beta, sigma2_b, sigma2) for any other beta.
    from lmm_teach.laplace import marginal_log_density
    psi = random_intercept_psi(rail_fit.sigma2_b, 6)
    at_beta = [marginal_log_density(rail.y, rail.X, rail.Z, [beta], psi, rail_fit.sigma2)
               for beta in (60.0, 66.0, 66.5, 67.0, 70.0)]
    np.testing.assert_allclose(max(at_beta), rail_fit.loglik, atol=1e-8)
    assert np.argmax(at_beta) == 2


@pytest.mark.parametrize("phi0", [[0.0, 0.0], [10.0, -3.0], [2.0, 8.0]])
def test_fit_does_not_depend_on_the_start(rail, rail_fit, phi0):
    other = fit_ml(rail.X, rail.Z, rail.y, phi0=phi0)
    np.testing.assert_allclose(other.loglik, rail_fit.loglik, atol=1e-7)
    np.testing.assert_allclose([other.sigma2_b, other.sigma2], [rail_fit.sigma2_b, rail_fit.sigma2], rtol=1e-4)


def test_fit_is_immutable(rail_fit):
    with pytest.raises(dataclasses.FrozenInstanceError):
        rail_fit.loglik = 0.0
    with pytest.raises(ValueError, match="read-only"):
        rail_fit.beta[0] = 0.0


def test_phi_must_have_two_entries():
    with pytest.raises(ValueError, match="phi must hold 2 numbers"):
        variances_from_phi([1.0, 2.0, 3.0])


def test_fit_checks_its_input(rail):
    with pytest.raises(ValueError, match="Z has 17 rows, but y has 18"):
        fit_ml(rail.X, rail.Z[:17], rail.y)
    with pytest.raises(ValueError, match="y holds 1 non-finite value"):
        fit_ml(rail.X, rail.Z, np.r_[rail.y[:17], np.nan])
