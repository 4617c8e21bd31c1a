"""Chapter 5: Henderson's equations against GLS, Woodbury against inv(V)."""

import numpy as np
import pytest

from lmm_teach.henderson import (
    cov_beta_mme,
    gls_beta,
    mme_matrix,
    solve_mme,
    woodbury_V_inverse,
)
from lmm_teach.inference import cov_beta
from lmm_teach.laplace import conditional_mode_b
from lmm_teach.model import marginal_covariance


@pytest.fixture(params=["rail", "sleep"])
def case(request):
    matrices = request.getfixturevalue(request.param)
    _, psi, sigma2 = request.getfixturevalue(f"{request.param}_point")
    return matrices, psi, sigma2, marginal_covariance(matrices.Z, psi, sigma2)


def test_woodbury_equals_the_inverse(case):
    matrices, psi, sigma2, V = case
    np.testing.assert_allclose(woodbury_V_inverse(matrices.Z, psi, sigma2) @ V, np.eye(V.shape[0]), atol=1e-10)


def test_mme_beta_is_the_gls_beta(case):
    matrices, psi, sigma2, V = case
    beta_mme, _ = solve_mme(matrices.y, matrices.X, matrices.Z, psi, sigma2)
    np.testing.assert_allclose(beta_mme, gls_beta(matrices.y, matrices.X, V), rtol=1e-10)


def test_mme_b_is_the_conditional_mode_and_the_blup(case):
    matrices, psi, sigma2, V = case
    beta, b = solve_mme(matrices.y, matrices.X, matrices.Z, psi, sigma2)
    np.testing.assert_allclose(b, conditional_mode_b(matrices.y, matrices.X, matrices.Z, beta, psi, sigma2),
                               rtol=1e-9, atol=1e-9)
    blup = psi @ matrices.Z.T @ np.linalg.solve(V, matrices.y - matrices.X @ beta)
    np.testing.assert_allclose(b, blup, rtol=1e-9, atol=1e-9)


def test_mme_block_of_inverse_is_var_beta(case):
    matrices, psi, sigma2, V = case
    np.testing.assert_allclose(cov_beta_mme(matrices.X, matrices.Z, psi, sigma2),
                               cov_beta(matrices.X, V), rtol=1e-9)


def test_mme_matrix_is_symmetric_positive_definite(case):
    matrices, psi, sigma2, _ = case
    C = mme_matrix(matrices.X, matrices.Z, psi, sigma2)
    np.testing.assert_allclose(C, C.T)
    assert np.linalg.eigvalsh(C).min() > 0


def test_rank_deficient_X_is_named(rail):
    X = np.column_stack([rail.X, 2 * rail.X])
    with pytest.raises(ValueError, match="X has 2 columns but rank 1"):
        solve_mme(rail.y, X, rail.Z, 500.0 * np.eye(6), 16.0)
