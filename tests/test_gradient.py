"""The analytic gradient of the profiled deviance (chapter 19, lmm_teach.gradient) and the
quasi-Newton search it allows (optimizer.run_lbfgs).

The gradient is checked against central differences on every small reference model and on
random models, by ML and REML, and its pieces against the identities of the derivation:
the factor of M_theta holds chapter 10's L, R_X and r; the log-determinant part equals
Jacobi's formula written with chapter 10's dense matrices; the log r^2 part equals the
envelope formula -2 e'Z E_i u / r^2. The search is checked against BOBYQA's optimum on every
small reference model (lme4's own numbers are checked by the other test files, which use
``fit``'s default).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import linalg

from lmm_teach import data, fit
from lmm_teach.blocked import SMALL_Q, dense_factor, deviance_from_dense
from lmm_teach.gradient import deviance_and_gradient, log_det_gradient
from lmm_teach.optimizer import (
    canonical_signs,
    choose_optimizer,
    optimize_theta,
    run_lbfgs,
    theta_columns,
    zero_column_exits,
)
from lmm_teach.pls import Lambda, solve_pls, theta_lower, theta_start, weighted
from test_blocked import MODELS, _design, _random_design, _random_theta

SMALL = [m for m in MODELS if _design(*m[1:4]).gram.dense is not None]


def _central_differences(theta, gram, reml, step=1e-5):
    """Five-point central differences (error of order step^4: Orange's deviance is steep)."""
    d = lambda point: deviance_from_dense(point, gram, reml)
    return np.array([(8 * (d(theta + e) - d(theta - e)) - d(theta + 2 * e) + d(theta - 2 * e))
                     / (12 * step) for e in step * np.eye(theta.size)])


def _E(i, theta, terms):
    """dLambda/dtheta_i: a 1 wherever theta_i sits in Lambda (dense)."""
    unit = np.zeros_like(theta)
    unit[i] = 1.0
    return Lambda(unit, terms).toarray()


def test_most_reference_models_are_small():
    assert len(SMALL) >= 40 and SMALL_Q == 64


@pytest.mark.parametrize("name, formula, frame, weights, thetas", SMALL,
                         ids=[m[0] for m in SMALL])
def test_the_gradient_is_the_limit_of_central_differences(name, formula, frame, weights,
                                                          thetas):
    design = _design(formula, frame, weights)
    rng = np.random.default_rng(len(name))
    for method, theta in thetas.items():
        reml = method == "REML"
        away = theta + rng.normal(scale=0.3, size=theta.size)   # negative diagonals too
        for point in (theta, away, theta_start(design.terms)):
            value, gradient = deviance_and_gradient(point, design.gram, reml)
            assert value == pytest.approx(deviance_from_dense(point, design.gram, reml),
                                          abs=1e-9)
            differences = _central_differences(point, design.gram, reml)
            np.testing.assert_allclose(gradient, differences, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("seed", range(20))
def test_the_gradient_on_random_models(seed):
    rng = np.random.default_rng(100 + seed)
    formula, design = _random_design(rng)
    if design.gram.dense is None:
        pytest.skip(f"{formula}: more than {SMALL_Q} random effects")
    theta = _random_theta(design, rng) + 0.05       # off the zeros, where d is not smooth
    for reml in (False, True):
        _, gradient = deviance_and_gradient(theta, design.gram, reml)
        np.testing.assert_allclose(gradient, _central_differences(theta, design.gram, reml),
                                   rtol=1e-4, atol=1e-3, err_msg=formula)


@pytest.fixture(scope="module")
def sleep3():
    frame = data.load_sleepstudy().assign(Days2=lambda d: d.Days ** 2)
    return _design("Reaction ~ Days + Days2 + (Days + Days2 | Subject)", frame, None)


THETA3 = np.array([1.1, -0.2, 0.03, 0.5, -0.04, 0.02])


def test_the_factor_of_M_holds_L_R_X_and_r(sleep3):
    Lambda_tilde_t_G, L_tilde = dense_factor(THETA3, sleep3.gram)
    readable = solve_pls(THETA3, sleep3)
    q, p = readable.L.shape[0], readable.R_X.shape[0]
    np.testing.assert_allclose(L_tilde[:q, :q], readable.L, atol=1e-9)
    np.testing.assert_allclose(np.abs(np.diag(L_tilde)[q:q + p]),
                               np.abs(np.diag(readable.R_X)), rtol=1e-9)
    assert L_tilde[-1, -1] ** 2 == pytest.approx(readable.r2, rel=1e-9)
    M = Lambda_tilde_t_G[:, :q] @ Lambda(THETA3, sleep3.terms).toarray()
    np.testing.assert_allclose((L_tilde @ L_tilde.T)[:, :q] - np.eye(q + p + 1)[:, :q], M,
                               rtol=1e-10, atol=1e-8)


def test_the_log_det_L_part_is_jacobis_formula(sleep3):
    """d log|L|^2 / d theta_i = tr(A^-1 dA/dtheta_i), A = Lambda'Z'Z Lambda + I, dense."""
    Lambda_tilde_t_G, L_tilde = dense_factor(THETA3, sleep3.gram)
    _, _, Z = weighted(sleep3)
    ZtZ, Lam = (Z.T @ Z).toarray(), Lambda(THETA3, sleep3.terms).toarray()
    A = Lam.T @ ZtZ @ Lam + np.eye(Lam.shape[0])
    jacobi = []
    for i in range(THETA3.size):
        E = _E(i, THETA3, sleep3.terms)
        jacobi.append(np.trace(np.linalg.solve(A, E.T @ ZtZ @ Lam + Lam.T @ ZtZ @ E)))
    np.testing.assert_allclose(log_det_gradient(L_tilde, Lambda_tilde_t_G, A.shape[0],
                                                sleep3.gram), jacobi, rtol=1e-8)


def test_the_log_r2_part_is_the_envelope_formula(sleep3):
    """r^2 is a minimum over (u, beta), so dr^2/dtheta_i = -2 e'Z E_i u at the minimizer."""
    Lambda_tilde_t_G, L_tilde = dense_factor(THETA3, sleep3.gram)
    size = L_tilde.shape[0]
    d_log_r2 = (log_det_gradient(L_tilde, Lambda_tilde_t_G, size, sleep3.gram)
                - log_det_gradient(L_tilde, Lambda_tilde_t_G, size - 1, sleep3.gram))
    y, X, Z = weighted(sleep3)
    pls = solve_pls(THETA3, sleep3)
    e = y - X @ pls.beta - Z @ pls.b
    envelope = [-2 * (e @ (Z @ (_E(i, THETA3, sleep3.terms) @ pls.u))) / pls.r2
                for i in range(THETA3.size)]
    np.testing.assert_allclose(d_log_r2, envelope, rtol=1e-7)


def test_a_column_with_its_sign_changed_is_the_same_model(sleep3):
    flipped = THETA3.copy()
    column = theta_columns(sleep3.terms)[1]             # T's second column: 2 entries
    flipped[column] = -flipped[column]
    assert column == slice(3, 5)
    for reml in (False, True):
        assert deviance_from_dense(flipped, sleep3.gram, reml) == pytest.approx(
            deviance_from_dense(THETA3, sleep3.gram, reml), abs=1e-9)
    np.testing.assert_array_equal(canonical_signs(flipped, sleep3.terms), THETA3)


def test_a_zero_column_is_stationary_and_is_stepped_off(sleep3):
    theta = THETA3.copy()
    theta[[5]] = 0.0                                    # the last column: its diagonal alone
    _, gradient = deviance_and_gradient(theta, sleep3.gram, True)
    assert gradient[5] == pytest.approx(0.0, abs=1e-9)
    exits = zero_column_exits(theta, sleep3.terms)
    assert len(exits) == 1 and exits[0][5] > 0 and np.array_equal(exits[0][:5], theta[:5])


def test_lbfgs_leaves_a_zero_column_that_is_not_a_minimum():
    """cbpp's herd variance is not 0, but theta = 0 is a stationary point: the search steps
    off it."""
    design = _design("incidence ~ period + size + (1 | herd)",
                     data.load_cbpp().assign(herd=lambda d: d.herd.astype(str)), None)
    run = run_lbfgs(design, True, np.array([0.0]))
    bobyqa = optimize_theta(design, True, optimizer="bobyqa")
    assert run.x[0] > 0.1 and run.fun == pytest.approx(bobyqa.deviance, abs=1e-7)


@pytest.mark.parametrize("name, formula, frame, weights, thetas", SMALL,
                         ids=[m[0] for m in SMALL])
def test_lbfgs_finds_bobyqas_optimum_or_lower(name, formula, frame, weights, thetas):
    design = _design(formula, frame, weights)
    for reml in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")            # singular fits: tested elsewhere
            lbfgs = optimize_theta(design, reml, optimizer="lbfgs")
            bobyqa = optimize_theta(design, reml, optimizer="bobyqa")
        assert lbfgs.converged
        assert lbfgs.deviance <= bobyqa.deviance + 1e-6
        assert np.all(lbfgs.theta >= theta_lower(design.terms))


def test_the_default_optimizer_follows_the_gradient(sleep3):
    assert choose_optimizer(None, sleep3, "fast") == "lbfgs"
    assert choose_optimizer(None, sleep3, "readable") == "bobyqa"
    assert choose_optimizer("bobyqa", sleep3, "fast") == "bobyqa"
    with pytest.raises(ValueError, match="lbfgs.*analytic gradient"):
        choose_optimizer("lbfgs", sleep3, "readable")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        choose_optimizer("newton", sleep3, "fast")


def test_large_models_keep_bobyqa():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"g": rng.integers(0, 80, 400), "x": rng.normal(size=400)})
    frame["y"] = frame.x + rng.normal(size=80)[frame.g] + rng.normal(size=400)
    design = _design("y ~ x + (1 | g)", frame, None)
    assert design.gram.dense is None and choose_optimizer(None, design, "fast") == "bobyqa"
    with pytest.raises(ValueError, match="at most 64 random effects"):
        fit("y ~ x + (1 | g)", frame, optimizer="lbfgs")


def test_fit_takes_lbfgs_by_default_and_agrees_with_bobyqa(monkeypatch):
    import lmm_teach.optimizer as optimizer
    calls = []
    monkeypatch.setattr(optimizer, "run_lbfgs",
                        lambda *args, **kwargs: calls.append(1) or run_lbfgs(*args, **kwargs))
    frame = data.load_sleepstudy()
    default = fit("Reaction ~ Days + (Days | Subject)", frame)
    assert calls                                        # the default search used L-BFGS
    bobyqa = fit("Reaction ~ Days + (Days | Subject)", frame, optimizer="bobyqa")
    np.testing.assert_allclose(default.theta, bobyqa.theta, rtol=1e-4)
    assert default.deviance == pytest.approx(bobyqa.deviance, abs=1e-6)


def test_a_newton_step_from_a_failed_check_lands_near_the_optimum(sleep3):
    from lmm_teach.optimizer import gradient_check, newton_step
    optimum = optimize_theta(sleep3, True)
    near = optimum.theta + np.array([2e-3, -1e-3, 1e-4, 1e-3, 1e-4, -1e-4])
    value = deviance_from_dense(near, sleep3.gram, True)
    check = gradient_check(near, sleep3, True, value)
    assert not check.passes and check.hessian is not None
    step = newton_step(check, sleep3, True)
    assert step.fun < value and step.fun == pytest.approx(optimum.deviance, abs=1e-5)
    assert gradient_check(step.x, sleep3, True, step.fun).passes


def test_the_small_cholesky_is_scipys_and_refuses_what_is_not_positive_definite():
    from lmm_teach.blocked import cholesky_small
    rng = np.random.default_rng(3)
    B = rng.normal(size=(7, 7))
    M = B @ B.T + np.eye(7)
    np.testing.assert_allclose(cholesky_small(M), linalg.cholesky(M, lower=True), rtol=1e-12)
    with pytest.raises(linalg.LinAlgError):
        cholesky_small(M - 20 * np.eye(7))
