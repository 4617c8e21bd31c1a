"""Chapter 9: the restricted log-likelihood (eq-reml), checked against lme4 1.1-31, statsmodels,
quadrature over beta, Harville's closed form, the error-contrast density and closed forms.

Reference numbers from lme4 are copied here, with the R call that made them, so that a failing
test shows what it expected (the same numbers are in lmm_teach/data/lme4_reference.json).
"""

import numpy as np
import pytest
import statsmodels.formula.api as smf
from scipy import integrate, optimize

from lmm_teach.data import load_dyestuff, load_sleepstudy
from lmm_teach.henderson import cov_beta_mme
from lmm_teach.laplace import marginal_log_density
from lmm_teach.ml import profile_log_likelihood, variances_from_phi
from lmm_teach.model import marginal_covariance, random_intercept_matrices, random_intercept_psi
from lmm_teach.reml import (
    error_contrast_log_density,
    error_contrasts,
    restricted_log_density,
    restricted_log_likelihood,
)

# R: library(lme4); library(nlme); data(Rail)
#    fit <- lmer(travel ~ 1 + (1 | Rail), data = Rail, REML = TRUE)
RAIL_REML_SIGMA2_B = 615.311112033272   # as.data.frame(VarCorr(fit))$vcov[1]
RAIL_REML_SIGMA2 = 16.166666656695      # sigma(fit)^2
RAIL_REML_LOGLIK = -61.0885004042988    # logLik(fit)
RAIL_REML_SE = 10.1710373194253         # sqrt(diag(vcov(fit)))


def reml_fit(X, Z, y):
    """Maximize l_R over phi = (log sigma2_b, log sigma2); returns (phi_hat, l_R at phi_hat)."""
    start = np.log(np.full(2, np.var(y) / 2))
    result = optimize.minimize(lambda phi: -restricted_log_likelihood(phi, X, Z, y), start,
                               method="BFGS")
    assert result.success, result.message
    return result.x, -result.fun


def V_at(phi, Z):
    sigma2_b, sigma2 = variances_from_phi(phi)
    return marginal_covariance(Z, random_intercept_psi(sigma2_b, Z.shape[1]), sigma2)


def test_rail_at_lme4_reml_estimates(rail):
    phi = np.log([RAIL_REML_SIGMA2_B, RAIL_REML_SIGMA2])
    np.testing.assert_allclose(restricted_log_likelihood(phi, rail.X, rail.Z, rail.y),
                               RAIL_REML_LOGLIK, atol=1e-8)
    cov = cov_beta_mme(rail.X, rail.Z, random_intercept_psi(RAIL_REML_SIGMA2_B, 6), RAIL_REML_SIGMA2)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), [RAIL_REML_SE], rtol=1e-8)


@pytest.mark.parametrize("phi", [[np.log(615.0), np.log(16.0)], [1.0, 4.0], [8.0, 1.5]])
def test_two_routes_to_reml_agree_rail(rail, phi):
    # eq-reml via l_p and Henderson's C, and Harville's form from V directly
    np.testing.assert_allclose(restricted_log_likelihood(phi, rail.X, rail.Z, rail.y),
                               restricted_log_density(rail.y, rail.X, V_at(phi, rail.Z)), rtol=1e-12)


def test_two_routes_to_reml_agree_with_two_fixed_effects(sleep):
    phi = np.log([1300.0, 950.0])
    np.testing.assert_allclose(restricted_log_likelihood(phi, sleep.X, sleep.Z, sleep.y),
                               restricted_log_density(sleep.y, sleep.X, V_at(phi, sleep.Z)), rtol=1e-12)


def test_reml_is_the_integral_over_beta(rail):
    # l_R = log of the integral over beta of f(y | beta, phi) (p = 1: one quad)
    phi = np.log([450.0, 20.0])
    sigma2_b, sigma2 = variances_from_phi(phi)
    psi = random_intercept_psi(sigma2_b, 6)
    peak = profile_log_likelihood(phi, rail.X, rail.Z, rail.y)
    value, _ = integrate.quad(
        lambda beta: np.exp(marginal_log_density(rail.y, rail.X, rail.Z, [beta], psi, sigma2) - peak),
        -500.0, 700.0, points=[66.5], epsabs=1e-13, epsrel=1e-12, limit=200)
    np.testing.assert_allclose(restricted_log_likelihood(phi, rail.X, rail.Z, rail.y),
                               peak + np.log(value), rtol=1e-10)


def test_error_contrasts_are_orthonormal_and_orthogonal_to_X(sleep):
    K = error_contrasts(sleep.X)
    assert K.shape == (180, 178)
    np.testing.assert_allclose(K.T @ sleep.X, 0.0, atol=1e-10)
    np.testing.assert_allclose(K.T @ K, np.eye(178), atol=1e-12)


@pytest.mark.parametrize("which", ["rail", "sleep"])
def test_contrast_density_is_reml_plus_half_log_det_XtX(request, which):
    mats = request.getfixturevalue(which)
    phi = np.log([500.0, 30.0])
    V = V_at(phi, mats.Z)
    constant = 0.5 * np.linalg.slogdet(mats.X.T @ mats.X)[1]
    np.testing.assert_allclose(error_contrast_log_density(mats.y, mats.X, V),
                               restricted_log_density(mats.y, mats.X, V) + constant, rtol=1e-11)


def test_contrast_density_does_not_depend_on_the_basis(rail):
    # Any other orthonormal basis K R (R orthogonal) of the same space gives the same density.
    K = error_contrasts(rail.X)
    R, _ = np.linalg.qr(np.random.default_rng(2026).normal(size=(17, 17)))
    V = V_at(np.log([400.0, 20.0]), rail.Z)
    from lmm_teach.joint import gaussian_log_density
    other = gaussian_log_density((K @ R).T @ rail.y, np.zeros(17), (K @ R).T @ V @ (K @ R))
    np.testing.assert_allclose(other, error_contrast_log_density(rail.y, rail.X, V), rtol=1e-12)


def test_linear_regression_reml_variance_is_rss_over_n_minus_p():
    rng = np.random.default_rng(2026)
    n, p = 15, 3
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    y = X @ [1.0, 2.0, -1.0] + rng.normal(size=n)
    rss = np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2)
    best = optimize.minimize_scalar(lambda s: -restricted_log_density(y, X, np.exp(s) * np.eye(n)),
                                    bounds=(-5, 5), method="bounded", options={"xatol": 1e-10})
    np.testing.assert_allclose(np.exp(best.x), rss / (n - p), rtol=1e-7)


def test_rail_reml_fit_matches_lme4_and_the_closed_form(rail):
    phi, loglik = reml_fit(rail.X, rail.Z, rail.y)
    sigma2_b, sigma2 = variances_from_phi(phi)
    np.testing.assert_allclose(loglik, RAIL_REML_LOGLIK, atol=1e-8)
    np.testing.assert_allclose([sigma2_b, sigma2], [RAIL_REML_SIGMA2_B, RAIL_REML_SIGMA2], rtol=1e-5)
    # balanced one-way layout: sigma2 = SSW / (n - q), sigma2_b = (SSB / (J - 1) - sigma2) / n_j
    by_rail = rail.y.reshape(6, 3)
    ssw = np.sum((by_rail - by_rail.mean(axis=1, keepdims=True)) ** 2)
    ssb = 3 * np.sum((by_rail.mean(axis=1) - rail.y.mean()) ** 2)
    np.testing.assert_allclose([sigma2_b, sigma2], [(ssb / 5 - ssw / 12) / 3, ssw / 12], rtol=1e-5)


def test_dyestuff_reml_fit_matches_lme4():
    # R: fit <- lmer(Yield ~ 1 + (1 | Batch), data = Dyestuff, REML = TRUE)
    mats = random_intercept_matrices(load_dyestuff(), "Yield", "Batch")
    phi, loglik = reml_fit(mats.X, mats.Z, mats.y)
    sigma2_b, sigma2 = variances_from_phi(phi)
    np.testing.assert_allclose(loglik, -159.827138421129, atol=1e-7)              # logLik(fit)
    np.testing.assert_allclose(sigma2_b, 1764.04999996677, rtol=1e-4)             # VarCorr(fit)
    np.testing.assert_allclose(sigma2, 49.5100999797738**2, rtol=1e-5)            # sigma(fit)^2
    se = np.sqrt(cov_beta_mme(mats.X, mats.Z, random_intercept_psi(sigma2_b, 6), sigma2)[0, 0])
    np.testing.assert_allclose(se, 19.3834121521823, rtol=1e-5)                   # sqrt(diag(vcov(fit)))


def test_sleepstudy_random_intercept_reml_matches_statsmodels(sleep):
    # No lme4 row for this model; statsmodels MixedLM(reml=True) is the reference.
    frame = load_sleepstudy()
    reference = smf.mixedlm("Reaction ~ Days", frame, groups=frame["Subject"]).fit(reml=True, method="lbfgs")
    phi, loglik = reml_fit(sleep.X, sleep.Z, sleep.y)
    np.testing.assert_allclose(loglik, reference.llf, atol=1e-6)
    np.testing.assert_allclose(variances_from_phi(phi), [reference.cov_re.iloc[0, 0], reference.scale],
                               rtol=3e-4)


def test_rescaling_a_column_shifts_reml_by_minus_log_of_the_factor(sleep):
    # X -> X diag(1, c): the column space, beta_hat's fit and l_p stay; log|X'V^-1 X| gains 2 log c.
    phi = np.log([1300.0, 950.0])
    X_hours = sleep.X * [1.0, 24.0]
    np.testing.assert_allclose(profile_log_likelihood(phi, X_hours, sleep.Z, sleep.y),
                               profile_log_likelihood(phi, sleep.X, sleep.Z, sleep.y), rtol=1e-12)
    np.testing.assert_allclose(restricted_log_likelihood(phi, X_hours, sleep.Z, sleep.y)
                               - restricted_log_likelihood(phi, sleep.X, sleep.Z, sleep.y),
                               -np.log(24.0), rtol=1e-9)


def test_restricted_log_likelihood_checks_its_input(rail):
    phi = np.log([400.0, 20.0])
    with pytest.raises(ValueError, match="Z has 17 rows, but y has 18"):
        restricted_log_likelihood(phi, rail.X, rail.Z[:17], rail.y)
    with pytest.raises(ValueError, match="phi must hold 2 numbers"):
        restricted_log_likelihood([1.0], rail.X, rail.Z, rail.y)
    with pytest.raises(ValueError, match="y holds 1 non-finite value"):
        restricted_log_likelihood(phi, rail.X, rail.Z, np.r_[rail.y[:17], np.nan])


def test_restricted_log_density_checks_its_input(rail):
    V = V_at(np.log([400.0, 20.0]), rail.Z)
    with pytest.raises(ValueError, match="V must be 18 x 18"):
        restricted_log_density(rail.y, rail.X, V[:17, :17])
    with pytest.raises(ValueError, match="X has 2 columns but rank 1"):
        restricted_log_density(rail.y, np.column_stack([rail.X, 2 * rail.X]), V)
    with pytest.raises(ValueError, match="V is not positive definite"):
        restricted_log_density(rail.y, rail.X, -V)


def test_error_contrasts_check_their_input():
    with pytest.raises(ValueError, match="X has 2 rows and 2 columns"):
        error_contrasts(np.eye(2))
    with pytest.raises(ValueError, match="X has 2 columns but rank 1"):
        error_contrasts(np.ones((5, 2)))
    with pytest.raises(ValueError, match="X must be a matrix"):
        error_contrasts(np.ones(5))
