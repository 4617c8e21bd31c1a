"""The steps of a GLMM fit (chapters 20-21): the families' densities and weights, PIRLS (its
readable and fast versions agree, and its modes are stationary points), the Gram blocks of a
step made from a pattern, Gauss-Hermite rules, and the Laplace and AGQ deviances.

Reference: ``lmm_teach/data/lme4_glmer_reference.json`` (the project's cbpp reference: lme4
1.1-31's ``glmer`` with nAGQ = 1 and 25, and R's ``integrate`` of the exact marginal
likelihood at both fits' estimates).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lmm_teach import data
from lmm_teach.blocked import gram_blocks
from lmm_teach.families import (BINOMIAL, POISSON, deviance_residuals, family,
                                working_residuals, working_weights)
from lmm_teach.glmer import glmm_deviance, glmm_design
from lmm_teach.pirls import (gram_pattern, penalized_deviance, pirls, pirls_readable,
                             reweighted_gram, weighted_design)
from lmm_teach.pls import Lambda
from lmm_teach.quadrature import (agq_deviance, gauss_hermite_rule, laplace_deviance,
                                  saturated_log_likelihood)
from test_blocked import _random_design, _random_theta

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
REFERENCE = data.load_glmer_quadrature_reference()


def _cbpp_design():
    return glmm_design(CBPP, data.load_cbpp(), BINOMIAL)


def _lme4_point(key: str) -> tuple[np.ndarray, np.ndarray]:
    fit = REFERENCE["fits"][key]
    return np.array([fit["theta"]]), np.array(list(fit["fixef"].values()))


def test_log_densities_are_scipys():
    rng = np.random.default_rng(1)
    n = rng.integers(1, 30, 50).astype(float)
    successes = rng.binomial(n.astype(int), 0.3)
    mu = rng.uniform(0.01, 0.99, 50)
    np.testing.assert_allclose(BINOMIAL.log_density(successes / n, mu, n),
                               stats.binom.logpmf(successes, n, mu), rtol=1e-12)
    counts, rate = rng.poisson(4, 50).astype(float), rng.uniform(0.1, 9, 50)
    np.testing.assert_allclose(POISSON.log_density(counts, rate, np.ones(50)),
                               stats.poisson.logpmf(counts, rate), rtol=1e-12)


@pytest.mark.parametrize("fam", [BINOMIAL, POISSON])
def test_weights_are_minus_the_second_derivative_in_eta(fam):
    """w = -d2/deta2 log p(y | eta) and (y - mu)/mu' * w = d/deta log p (canonical links)."""
    rng = np.random.default_rng(2)
    eta, h = rng.normal(0, 1, 20), 1e-4
    n = rng.integers(1, 10, 20).astype(float) if fam is BINOMIAL else np.ones(20)
    y = np.round(rng.uniform(0, 1, 20) * n) / n if fam is BINOMIAL else rng.poisson(2, 20) * 1.0
    log_p = lambda e: fam.log_density(y, fam.linkinv(e), n)
    first = (log_p(eta + h) - log_p(eta - h)) / (2 * h)
    second = (log_p(eta + h) - 2 * log_p(eta) + log_p(eta - h)) / h**2
    mu = fam.linkinv(eta)
    np.testing.assert_allclose(working_weights(fam, mu, n), -second, rtol=1e-5)
    np.testing.assert_allclose(working_weights(fam, mu, n) * working_residuals(fam, y, mu),
                               first, rtol=1e-6, atol=1e-8)


def test_deviance_residuals_are_zero_at_the_data_and_positive_elsewhere():
    y, n = np.array([0.0, 0.25, 1.0]), np.array([4.0, 4.0, 4.0])
    np.testing.assert_allclose(deviance_residuals(BINOMIAL, y, y, n), 0.0, atol=1e-12)
    assert np.all(deviance_residuals(BINOMIAL, y, np.full(3, 0.5), n) > 0)


def test_unknown_family_is_named():
    with pytest.raises(ValueError, match="'gamma'.*'binomial', 'poisson'"):
        family("gamma")
    with pytest.raises(ValueError, match="unknown family None"):
        family(None)
    assert family("Poisson") is POISSON and family("BINOMIAL") is BINOMIAL


def test_readable_and_fast_pirls_agree_on_cbpp():
    design = _cbpp_design()
    theta, beta = _lme4_point("nAGQ1")
    fast, readable = pirls(theta, beta, design, BINOMIAL), pirls_readable(theta, beta, design,
                                                                           BINOMIAL)
    np.testing.assert_allclose(fast.u, readable.u, atol=1e-10)
    np.testing.assert_allclose(fast.log_det_L2, readable.log_det_L2, rtol=1e-12)
    np.testing.assert_allclose(fast.L_diagonal, readable.L_diagonal, rtol=1e-12)
    assert fast.converged and readable.converged


def _penalized(theta, beta, design, fam, u):
    eta = design.X @ beta + (design.Z @ Lambda(theta, design.terms)) @ u
    return penalized_deviance(fam, design.y, design.weights, fam.linkinv(eta), u)


def test_modes_are_stationary_and_L_factors_the_hessian():
    """The gradient of P at u-hat is 0; L L' = Lambda'Z'WZ Lambda + I is half its Hessian."""
    design = _cbpp_design()
    theta, beta = _lme4_point("nAGQ1")
    solution = pirls_readable(theta, beta, design, BINOMIAL)
    P = lambda u: _penalized(theta, beta, design, BINOMIAL, u)
    h, E = 1e-4, np.eye(solution.u.size)
    gradient = [(P(solution.u + h * e) - P(solution.u - h * e)) / (2 * h) for e in E]
    np.testing.assert_allclose(gradient, 0.0, atol=1e-7)
    ZLambda = (design.Z @ Lambda(theta, design.terms)).toarray()
    w = working_weights(BINOMIAL, solution.mu, design.weights)
    A = ZLambda.T @ (w[:, None] * ZLambda) + np.eye(solution.u.size)
    second = [(P(solution.u + h * e) - 2 * P(solution.u) + P(solution.u - h * e)) / h**2
              for e in E]
    np.testing.assert_allclose(np.diag(A), np.array(second) / 2, rtol=1e-5)
    np.testing.assert_allclose(np.sum(np.log(np.diag(A))), solution.log_det_L2, rtol=1e-12)


def test_pirls_with_beta_is_the_penalized_maximum():
    """update_beta=True: (u, beta) minimize P jointly, so its beta-gradient is 0 too."""
    design = _cbpp_design()
    theta = np.array([0.6])
    solution = pirls(theta, np.zeros(4), design, BINOMIAL, update_beta=True)
    h = 1e-5
    for i in range(4):
        step = np.eye(4)[i] * h
        slope = (_penalized(theta, solution.beta + step, design, BINOMIAL, solution.u)
                 - _penalized(theta, solution.beta - step, design, BINOMIAL, solution.u)) / (2 * h)
        assert abs(slope) < 1e-5


@pytest.mark.parametrize("seed", range(12))
def test_gram_from_the_pattern_is_gram_blocks(seed):
    """reweighted_gram (the fast path) equals gram_blocks of the weighted model, on random
    designs (one to three terms, vector and scalar, crossed and nested)."""
    rng = np.random.default_rng(seed)
    formula, design = _random_design(rng)
    w, z = rng.uniform(0.1, 3, design.y.size), rng.normal(size=design.y.size)
    for X in (design.X, np.zeros((design.y.size, 0))):
        slow = gram_blocks(weighted_design(design, w, z, X))
        fast = reweighted_gram(gram_pattern(design), w, z, X)
        for name in ("Z1tZ1", "Z1tXy", "Z2mtZ2m", "Z2mtXy", "XytXy"):
            np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-12,
                                       atol=1e-10, err_msg=f"{formula}: {name}")
        np.testing.assert_allclose(fast.Z2mtZ1.toarray(), slow.Z2mtZ1.toarray(), rtol=1e-12,
                                   atol=1e-10, err_msg=formula)


@pytest.mark.parametrize("seed", range(6))
def test_readable_and_fast_pirls_agree_on_random_designs(seed):
    rng = np.random.default_rng(100 + seed)
    formula, design = _random_design(rng)
    theta = np.minimum(_random_theta(design, rng), 1.5)
    eta = design.X @ rng.normal(0, 0.3, design.X.shape[1])
    y = rng.poisson(np.exp(np.clip(eta, -3, 3))).astype(float)
    counts = weighted_design(design, np.ones(y.size), y, design.X)
    beta = rng.normal(0, 0.3, design.X.shape[1])
    fast, readable = pirls(theta, beta, counts, POISSON), pirls_readable(theta, beta, counts,
                                                                          POISSON)
    np.testing.assert_allclose(fast.b, readable.b, atol=1e-8, err_msg=formula)
    np.testing.assert_allclose(fast.log_det_L2, readable.log_det_L2, rtol=1e-10,
                               err_msg=formula)


@pytest.mark.parametrize("nagq", [1, 2, 5, 12])
def test_gauss_hermite_rule_is_exact_to_degree_2k_minus_1(nagq):
    z, omega = gauss_hermite_rule(nagq)
    for degree in range(2 * nagq):
        exact = 0.0 if degree % 2 else float(np.prod(np.arange(degree - 1, 0, -2)))
        np.testing.assert_allclose(omega @ z**degree, exact, rtol=1e-10,
                                   atol=1e-12 * (omega @ np.abs(z) ** degree))


def test_agq_with_one_node_is_laplace():
    design = _cbpp_design()
    theta, beta = _lme4_point("nAGQ1")
    solution = pirls(theta, beta, design, BINOMIAL)
    np.testing.assert_allclose(agq_deviance(BINOMIAL, design, theta[0], beta, solution, 1),
                               laplace_deviance(BINOMIAL, design, solution), rtol=1e-13)


@pytest.mark.parametrize("key", ["nAGQ1", "nAGQ25"])
def test_agq_is_rs_integrate_at_both_lme4_fits(key):
    """At each lme4 fit's estimates, AGQ with 25 nodes gives R's integrate() of the exact
    marginal log-likelihood (marginal_loglik_by_quadrature, 5 decimals)."""
    design = _cbpp_design()
    theta, beta = _lme4_point(key)
    deviance = glmm_deviance(design, BINOMIAL, 25)(np.concatenate([theta, beta]))
    np.testing.assert_allclose(-deviance / 2, REFERENCE["marginal_loglik_by_quadrature"][key],
                               atol=1e-5)


def test_laplace_at_lme4s_estimates_is_its_loglik():
    """lme4's logLik(glmer(..., nAGQ = 1)) = -92.02657; the Laplace approximation at its
    estimates with fully converged modes is 2.8e-4 higher (lme4's factor L is made from the
    weights of an earlier PIRLS iterate; chapter 21)."""
    design = _cbpp_design()
    theta, beta = _lme4_point("nAGQ1")
    deviance = glmm_deviance(design, BINOMIAL, 1)(np.concatenate([theta, beta]))
    np.testing.assert_allclose(-deviance / 2, REFERENCE["fits"]["nAGQ1"]["loglik"], atol=5e-4)


def test_lme4s_agq_loglik_drops_the_saturated_loglik():
    """logLik(glmer(..., nAGQ = 25)) = -50.005: the exact log-likelihood minus the saturated
    model's (lme4 sums deviance residuals in its AGQ deviance)."""
    design = _cbpp_design()
    theta, beta = _lme4_point("nAGQ25")
    exact = -glmm_deviance(design, BINOMIAL, 25)(np.concatenate([theta, beta])) / 2
    saturated = saturated_log_likelihood(BINOMIAL, design.y, design.weights)
    np.testing.assert_allclose(exact - saturated, REFERENCE["fits"]["nAGQ25"]["loglik"],
                               atol=1e-5)


def test_dense_and_blocked_steps_agree_on_a_small_model():
    """At most SMALL_Q random effects: pirls takes dense steps; without the dense Z in the
    pattern it takes the blocked ones. Same modes, same log|L|^2."""
    import dataclasses

    design = _cbpp_design()
    theta, beta = _lme4_point("nAGQ1")
    pattern = gram_pattern(design)
    assert pattern.Z_dense is not None
    dense = pirls(theta, beta, design, BINOMIAL, pattern=pattern)
    blocked = pirls(theta, beta, design, BINOMIAL,
                    pattern=dataclasses.replace(pattern, Z_dense=None))
    np.testing.assert_allclose(dense.u, blocked.u, atol=1e-10)
    np.testing.assert_allclose(dense.log_det_L2, blocked.log_det_L2, rtol=1e-12)
    np.testing.assert_allclose(dense.L_diagonal, blocked.L_diagonal, rtol=1e-12)
