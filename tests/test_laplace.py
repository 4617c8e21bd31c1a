"""Chapter 4: derivatives against finite differences; eq-laplace against two other routes."""

import numpy as np
import pytest

from lmm_teach.joint import log_joint_density
from lmm_teach.laplace import (
    conditional_mode_b,
    conditional_precision_b,
    gradient_b,
    laplace_log_marginal,
    marginal_log_density,
    quadrature_log_marginal,
)


def central_difference(f, x, h=1e-4):
    """Central finite differences of a scalar or vector function, one column per coordinate."""
    columns = []
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = h
        columns.append((np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2 * h))
    return np.array(columns).T


def test_gradient_matches_finite_differences(rail, rail_point):
    beta, psi, sigma2 = rail_point
    b = np.array([-5.0, -20.0, 10.0, 20.0, -10.0, 8.0])
    joint = lambda v: log_joint_density(rail.y, v, rail.X, rail.Z, beta, psi, sigma2)
    ours = gradient_b(rail.y, b, rail.X, rail.Z, beta, psi, sigma2)
    np.testing.assert_allclose(ours, central_difference(joint, b), rtol=1e-6)


def test_hessian_is_minus_A(sleep, sleep_point):
    # eq-hessian: differentiate the analytic gradient once more, numerically.
    beta, psi, sigma2 = sleep_point
    b = np.zeros(sleep.Z.shape[1])
    gradient = lambda v: gradient_b(sleep.y, v, sleep.X, sleep.Z, beta, psi, sigma2)
    A = conditional_precision_b(sleep.Z, psi, sigma2)
    np.testing.assert_allclose(-central_difference(gradient, b), A, rtol=1e-6, atol=1e-10)


def test_gradient_vanishes_at_the_mode(rail, rail_point):
    beta, psi, sigma2 = rail_point
    b_hat = conditional_mode_b(rail.y, rail.X, rail.Z, beta, psi, sigma2)
    np.testing.assert_allclose(gradient_b(rail.y, b_hat, rail.X, rail.Z, beta, psi, sigma2), 0, atol=1e-10)


def test_mode_is_the_shrunken_group_mean(rail, rail_point):
    # Balanced one-way: b_hat_j = (ybar_j - beta) * sigma2_b / (sigma2_b + sigma2 / n_j).
    beta, psi, sigma2 = rail_point
    group_means = rail.Z.T @ rail.y / 3
    expected = (group_means - beta) * psi[0, 0] / (psi[0, 0] + sigma2 / 3)
    np.testing.assert_allclose(conditional_mode_b(rail.y, rail.X, rail.Z, beta, psi, sigma2), expected)


@pytest.mark.parametrize("fixture", ["rail", "sleep"])
def test_laplace_equals_the_direct_marginal(fixture, request):
    matrices = request.getfixturevalue(fixture)
    beta, psi, sigma2 = request.getfixturevalue(f"{fixture}_point")
    args = (matrices.y, matrices.X, matrices.Z, beta, psi, sigma2)
    np.testing.assert_allclose(laplace_log_marginal(*args), marginal_log_density(*args), rtol=1e-12)


def test_laplace_equals_quadrature(rail, rail_point):
    beta, psi, sigma2 = rail_point
    by_quadrature = quadrature_log_marginal(rail.y, rail.X, rail.Z, beta, psi[0, 0], sigma2)
    by_laplace = laplace_log_marginal(rail.y, rail.X, rail.Z, beta, psi, sigma2)
    np.testing.assert_allclose(by_quadrature, by_laplace, rtol=1e-10)


def test_laplace_equals_quadrature_unbalanced(sleep, sleep_point):
    keep = np.arange(180) % 7 != 0                    # drop rows unevenly across subjects
    beta, psi, sigma2 = sleep_point
    y, X, Z = sleep.y[keep], sleep.X[keep], sleep.Z[keep]
    np.testing.assert_allclose(quadrature_log_marginal(y, X, Z, beta, psi[0, 0], sigma2),
                               laplace_log_marginal(y, X, Z, beta, psi, sigma2), rtol=1e-10)


def test_quadrature_rejects_a_non_indicator_Z(rail):
    with pytest.raises(ValueError, match="Z must be the indicator matrix"):
        quadrature_log_marginal(rail.y, rail.X, 2 * rail.Z, [66.5], 500.0, 16.0)
