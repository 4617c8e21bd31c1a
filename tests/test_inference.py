"""Chapter 7: standard errors, Wald z, two-sided p-values and intervals for beta-hat."""

import numpy as np
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from lmm_teach.data import load_sleepstudy
from lmm_teach.inference import (
    cov_beta,
    standard_errors,
    two_sided_p_value,
    wald_interval,
    wald_table,
    wald_z,
)
from lmm_teach.ml import fit_ml
from lmm_teach.model import marginal_covariance, random_intercept_psi


@pytest.mark.parametrize("z, p", [(0.0, 1.0), (1.959963984540054, 0.05), (-2.0, 0.04550026389635842),
                                  (2.0, 0.04550026389635842), (-9.0, 2.2571768119076845e-19)])
def test_two_sided_p_value(z, p):
    np.testing.assert_allclose(two_sided_p_value(z), [p], rtol=1e-10)


def test_p_value_is_symmetric_and_at_most_one():
    z = np.linspace(-6, 6, 121)
    p = two_sided_p_value(z)
    np.testing.assert_allclose(p, p[::-1])
    assert np.all((p > 0) & (p <= 1))


def test_standard_errors_take_the_root_of_the_diagonal_only():
    cov = np.array([[4.0, -1.0], [-1.0, 9.0]])
    np.testing.assert_array_equal(standard_errors(cov), [2.0, 3.0])


def test_wald_interval_covers_at_its_level():
    low, high = wald_interval([1.0], [2.0], level=0.9)[0]
    np.testing.assert_allclose([low, high], 1.0 + np.array([-1, 1]) * stats.norm.ppf(0.95) * 2.0)


@pytest.mark.parametrize("call, message", [
    (lambda: wald_interval([1.0], [1.0], level=95), "level must be between 0 and 1"),
    (lambda: wald_z([1.0, 2.0], [1.0]), "se has 1 entries, but beta has 2 columns"),
    (lambda: wald_z([1.0], [0.0]), "se must be positive"),
    (lambda: wald_table([1.0], np.eye(1), ["a", "b"]), "names has 2 entries, but beta has 1"),
    (lambda: standard_errors([[1.0, 0.0], [0.0, -1.0]]), "non-positive variance"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_table_matches_statsmodels(sleep):
    frame = load_sleepstudy()
    reference = smf.mixedlm("Reaction ~ Days", frame, groups=frame["Subject"]).fit(reml=False)
    fit = fit_ml(sleep.X, sleep.Z, sleep.y)
    V = marginal_covariance(sleep.Z, random_intercept_psi(fit.sigma2_b, 18), fit.sigma2)
    np.testing.assert_allclose(cov_beta(sleep.X, V), fit.cov_beta, rtol=1e-10)
    table = wald_table(fit.beta, fit.cov_beta, sleep.fixed_names)
    fixed = ["Intercept", "Days"]
    np.testing.assert_allclose(table["se"], reference.bse_fe[fixed], rtol=1e-4)
    np.testing.assert_allclose(table["z"], reference.tvalues[fixed], rtol=1e-4)
    np.testing.assert_allclose(table[["[0.025", "0.975]"]], reference.conf_int().loc[fixed], rtol=1e-5)


def test_empirical_covariance_of_gls_beta(sleep):
    # Var(beta_hat) = (X'V^-1 X)^-1 (eq-cov-beta): 4000 simulated data sets at known variances.
    from lmm_teach.henderson import gls_beta
    from lmm_teach.model import simulate_y
    psi, sigma2, beta = random_intercept_psi(1300.0, 18), 950.0, np.array([250.0, 10.0])
    V = marginal_covariance(sleep.Z, psi, sigma2)
    draws = simulate_y(sleep.X, sleep.Z, beta, psi, sigma2, 4000, np.random.default_rng(7))
    estimates = np.array([gls_beta(y, sleep.X, V) for y in draws])
    monte_carlo_se = np.sqrt(np.diag(cov_beta(sleep.X, V)) / 4000)
    np.testing.assert_array_less(np.abs(estimates.mean(axis=0) - beta), 4 * monte_carlo_se)
    np.testing.assert_allclose(np.cov(estimates.T), cov_beta(sleep.X, V), rtol=0.1, atol=0.05)
