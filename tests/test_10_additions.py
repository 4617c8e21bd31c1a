"""Chapter 10 additions to lmm_teach.pls: the PLS normal equations and the penalized sum of squares."""

import numpy as np
import pytest
from scipy import linalg

from lmm_teach.data import load_dyestuff2, load_sleepstudy
from lmm_teach.design import model_matrices
from lmm_teach.henderson import solve_mme
from lmm_teach.pls import Lambda, penalized_rss, pls_normal_equations, solve_pls

THETA = np.array([0.97, 0.015, 0.23])      # near lme4's REML theta for sleepstudy


@pytest.fixture(scope="module")
def sleep_design():
    return model_matrices("Reaction ~ Days + (Days | Subject)", load_sleepstudy())


def test_normal_equations_hold_at_the_pls_solution(sleep_design):
    matrix, rhs = pls_normal_equations(THETA, sleep_design)
    assert matrix.shape == (38, 38) and rhs.shape == (38,)
    np.testing.assert_allclose(matrix, matrix.T)
    solution = solve_pls(THETA, sleep_design)
    np.testing.assert_allclose(matrix @ np.concatenate([solution.u, solution.beta]), rhs, rtol=1e-10, atol=1e-8)


def test_blocked_factor_reproduces_the_normal_equation_matrix(sleep_design):
    # eq-pls-blocks: [[L, 0], [R_ZX', R_X']] times its transpose is the whole matrix.
    matrix, _ = pls_normal_equations(THETA, sleep_design)
    s = solve_pls(THETA, sleep_design)
    lower = np.block([[s.L, np.zeros((36, 2))], [s.R_ZX.T, s.R_X.T]])
    np.testing.assert_allclose(lower @ lower.T, matrix, rtol=1e-12, atol=1e-9)


def test_normal_equations_are_hendersons_in_u_coordinates(sleep_design):
    # eq-mme with psi = sigma2 Lambda Lambda', b = Lambda u, then multiplied by sigma2 and Lambda'.
    sigma2 = 655.0
    matrix, rhs = pls_normal_equations(THETA, sleep_design)
    u_beta = linalg.solve(matrix, rhs)
    Lam = Lambda(THETA, sleep_design.terms).toarray()
    beta, b = solve_mme(sleep_design.y, sleep_design.X, sleep_design.Z.toarray(), sigma2 * Lam @ Lam.T, sigma2)
    np.testing.assert_allclose(u_beta[36:], beta, rtol=1e-9)
    np.testing.assert_allclose(Lam @ u_beta[:36], b, rtol=1e-7, atol=1e-7)


def test_penalized_rss_is_minimal_at_the_pls_solution(sleep_design):
    s = solve_pls(THETA, sleep_design)
    np.testing.assert_allclose(penalized_rss(s.u, s.beta, THETA, sleep_design), s.r2, rtol=1e-12)
    rng = np.random.default_rng(2026)
    for _ in range(5):
        du, dbeta = rng.normal(size=36), rng.normal(size=2)
        # a quadratic with Hessian 2 * matrix: the excess is exactly the quadratic form
        matrix, _ = pls_normal_equations(THETA, sleep_design)
        step = np.concatenate([du, dbeta])
        np.testing.assert_allclose(penalized_rss(s.u + du, s.beta + dbeta, THETA, sleep_design) - s.r2,
                                   step @ matrix @ step, rtol=1e-6)


def test_singular_lambda_is_fine():
    # Dyestuff2 at theta = 0: Lambda = 0, psi has no inverse, but eq-pls is ordinary least squares.
    design = model_matrices("Yield ~ 1 + (1 | Batch)", load_dyestuff2())
    matrix, rhs = pls_normal_equations([0.0], design)
    np.testing.assert_allclose(matrix[:6, :6], np.eye(6))
    s = solve_pls([0.0], design)
    np.testing.assert_allclose(s.beta, [design.y.mean()], rtol=1e-12)
    np.testing.assert_allclose(penalized_rss(s.u, s.beta, [0.0], design),
                               np.sum((design.y - design.y.mean()) ** 2), rtol=1e-12)


def test_penalized_rss_rejects_wrong_shapes(sleep_design):
    with pytest.raises(ValueError, match="u must hold q = 36 values"):
        penalized_rss(np.zeros(35), np.zeros(2), THETA, sleep_design)
    with pytest.raises(ValueError, match="beta must hold p = 2 values"):
        penalized_rss(np.zeros(36), np.zeros(3), THETA, sleep_design)
    with pytest.raises(ValueError, match="theta has 2 values"):
        pls_normal_equations([1.0, 1.0], sleep_design)
