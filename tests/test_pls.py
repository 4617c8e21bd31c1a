"""Chapter 10: penalized least squares, its identities, and the link to Part I."""

import numpy as np
import pytest
from scipy import linalg

from lmm_teach.data import load_lme4_reference, load_rail, load_sleepstudy
from lmm_teach.design import model_matrices
from lmm_teach.henderson import gls_beta
from lmm_teach.laplace import conditional_mode_b
from lmm_teach.ml import profile_log_likelihood
from lmm_teach.pls import (
    Lambda,
    profiled_deviance,
    sigma2_hat,
    solve_pls,
    term_factor,
    theta_lower,
    theta_start,
)


@pytest.fixture(scope="module")
def sleep_design():
    return model_matrices("Reaction ~ Days + (Days | Subject)", load_sleepstudy())


def test_term_factor_fills_the_lower_triangle_by_column():
    np.testing.assert_array_equal(term_factor([1.0, 2.0, 3.0], 2), [[1.0, 0.0], [2.0, 3.0]])
    T = term_factor(np.arange(1.0, 7.0), 3)
    np.testing.assert_array_equal(T[np.tril_indices(3)], [1.0, 2.0, 4.0, 3.0, 5.0, 6.0])
    with pytest.raises(ValueError, match="needs 3 theta values"):
        term_factor([1.0, 2.0], 2)


def test_start_and_bounds(sleep_design):
    np.testing.assert_array_equal(theta_start(sleep_design.terms), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(theta_lower(sleep_design.terms), [0.0, -np.inf, 0.0])


def test_L_factors_its_matrix(sleep_design):
    theta = [0.9, 0.02, 0.22]
    solution = solve_pls(theta, sleep_design)
    ZLambda = (sleep_design.Z @ Lambda(theta, sleep_design.terms)).toarray()
    np.testing.assert_allclose(solution.L @ solution.L.T, ZLambda.T @ ZLambda + np.eye(36), atol=1e-10)
    X = sleep_design.X
    np.testing.assert_allclose(solution.R_X.T @ solution.R_X, X.T @ X - solution.R_ZX.T @ solution.R_ZX)


def test_pls_solution_minimizes_the_penalized_sum(sleep_design):
    # eq-pls: the normal equations of the augmented least-squares problem hold at (u, beta).
    theta = np.array([0.9, 0.02, 0.22])
    solution = solve_pls(theta, sleep_design)
    ZLambda = (sleep_design.Z @ Lambda(theta, sleep_design.terms)).toarray()
    augmented = np.block([[ZLambda, sleep_design.X], [np.eye(36), np.zeros((36, 2))]])
    target = np.concatenate([sleep_design.y, np.zeros(36)])
    least_squares, *_ = linalg.lstsq(augmented, target)
    np.testing.assert_allclose(np.concatenate([solution.u, solution.beta]), least_squares, rtol=1e-8, atol=1e-8)


def test_pls_agrees_with_part_one(sleep_design):
    # b = Lambda u and psi = sigma^2 Lambda Lambda': beta is the GLS estimate, b the conditional mode.
    theta, sigma2 = np.array([0.9, 0.02, 0.22]), 650.0
    solution = solve_pls(theta, sleep_design)
    Lam = Lambda(theta, sleep_design.terms).toarray()
    psi = sigma2 * Lam @ Lam.T
    Z, X, y = sleep_design.Z.toarray(), sleep_design.X, sleep_design.y
    V = Z @ psi @ Z.T + sigma2 * np.eye(180)
    np.testing.assert_allclose(solution.beta, gls_beta(y, X, V), rtol=1e-9)
    np.testing.assert_allclose(solution.b, conditional_mode_b(y, X, Z, solution.beta, psi, sigma2), atol=1e-7)


def test_ml_deviance_is_minus_twice_the_part_one_profile():
    # For (1 | Rail): sigma_b^2 = theta^2 sigma^2, and sigma^2 = r^2 / n maximizes over sigma^2.
    design = model_matrices("travel ~ 1 + (1 | Rail)", load_rail())
    theta = 5.6268563507015                               # lme4: getME(lmer(..., REML = FALSE), "theta")
    sigma2 = sigma2_hat(solve_pls([theta], design).r2, 18, 1, reml=False)
    part_one = profile_log_likelihood(np.log([theta**2 * sigma2, sigma2]), design.X, design.Z.toarray(), design.y)
    np.testing.assert_allclose(profiled_deviance([theta], design, reml=False), -2 * part_one, rtol=1e-12)
    np.testing.assert_allclose(-2 * part_one, load_lme4_reference("rail", "ML")["objective"], rtol=1e-12)


def test_lambda_rejects_a_wrong_theta(sleep_design):
    with pytest.raises(ValueError, match="theta has 2 values; these terms need 3"):
        Lambda([1.0, 1.0], sleep_design.terms)
