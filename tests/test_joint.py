"""Chapter 3: the joint density log f(y, b), checked against scipy.stats.multivariate_normal."""

import numpy as np
import pytest
from scipy import stats

from lmm_teach.joint import (
    cholesky_lower,
    gaussian_log_density,
    log_density_b,
    log_density_y_given_b,
    log_joint_density,
)
from lmm_teach.model import marginal_covariance


@pytest.fixture
def b():
    return np.array([-10.0, -30.0, 15.0, 25.0, -15.0, 14.0])


def test_cholesky_factor_reproduces_its_matrix(rail, rail_point):
    _, psi, sigma2 = rail_point
    V = marginal_covariance(rail.Z, psi, sigma2)
    L = cholesky_lower(V, "V")
    np.testing.assert_allclose(L @ L.T, V, rtol=1e-12)
    assert np.allclose(L, np.tril(L))


def test_gaussian_log_density_matches_scipy():
    rng = np.random.default_rng(3)
    M = rng.normal(size=(4, 4))
    cov, mean, x = M @ M.T + np.eye(4), rng.normal(size=4), rng.normal(size=4)
    expected = stats.multivariate_normal(mean, cov).logpdf(x)
    np.testing.assert_allclose(gaussian_log_density(x, mean, cov), expected, rtol=1e-12)


def test_conditional_and_prior_match_scipy(rail, rail_point, b):
    beta, psi, sigma2 = rail_point
    mean = rail.X @ beta + rail.Z @ b
    expected_y = stats.multivariate_normal(mean, sigma2 * np.eye(18)).logpdf(rail.y)
    expected_b = stats.multivariate_normal(np.zeros(6), psi).logpdf(b)
    np.testing.assert_allclose(log_density_y_given_b(rail.y, rail.X, rail.Z, beta, b, sigma2), expected_y)
    np.testing.assert_allclose(log_density_b(b, psi), expected_b)


def test_joint_is_the_stacked_gaussian(sleep, sleep_point):
    # (y, b) ~ N((X beta, 0), [[V, Z psi], [psi Z', psi]]) gives the same density (eq-joint).
    beta, psi, sigma2 = sleep_point
    b = np.linspace(-40, 40, sleep.Z.shape[1])
    V = marginal_covariance(sleep.Z, psi, sigma2)
    cov = np.block([[V, sleep.Z @ psi], [psi @ sleep.Z.T, psi]])
    mean = np.concatenate([sleep.X @ beta, np.zeros_like(b)])
    expected = stats.multivariate_normal(mean, cov).logpdf(np.concatenate([sleep.y, b]))
    ours = log_joint_density(sleep.y, b, sleep.X, sleep.Z, beta, psi, sigma2)
    np.testing.assert_allclose(ours, expected, rtol=1e-10)


def test_not_positive_definite_is_a_value_error():
    with pytest.raises(ValueError, match="cov is not positive definite"):
        gaussian_log_density([0.0, 0.0], [0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])


@pytest.mark.parametrize("which, message", [
    ("beta", "beta has 2 entries, but X has 1 columns"),
    ("b", "b has 5 entries, but Z has 6 columns"),
    ("Z", "Z has 17 rows, but y has 18"),
    ("y", "y holds 1 non-finite value"),
])
def test_shape_errors_name_the_argument(rail, rail_point, b, which, message):
    beta, psi, sigma2 = rail_point
    args = dict(y=rail.y, X=rail.X, Z=rail.Z, beta=beta, b=b)
    bad = {"beta": [1.0, 2.0], "b": b[:5], "Z": rail.Z[:17], "y": np.r_[rail.y[:17], np.nan]}
    args[which] = bad[which]
    with pytest.raises(ValueError, match=message):
        log_density_y_given_b(sigma2=sigma2, **args)


def test_error_names_psi_and_V(rail):
    not_positive_definite = -np.eye(6)
    with pytest.raises(ValueError, match="psi is not positive definite"):
        log_density_b(np.zeros(6), not_positive_definite)
