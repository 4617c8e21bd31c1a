"""Intervals for every parameter (lmm_teach.intervals): profile intervals against lme4's
confint(method = "profile"), the profile's identities, and simulated responses.

Reference: the package's lme4_confint_reference.json (ML fits of sleepstudy, Penicillin and
Pastes; the R call is in each record's r_call).
"""

import warnings

import numpy as np
import pytest
from scipy import stats

from lmm_teach import data, fit, intervals
from lmm_teach.intervals import (
    ml_deviance_omega,
    omega_from,
    omega_names,
    theta_sigma,
    zeta_function,
)
from lmm_teach.pls import Lambda, profiled_deviance, theta_lower
from test_blocked import _random_design, _random_theta

DATASETS = ["sleepstudy", "penicillin", "pastes"]


@pytest.fixture(scope="module", params=DATASETS)
def profiled(request):
    record = data.load_lme4_confint_reference(request.param)
    result = fit(record["formula"], getattr(data, f"load_{request.param}")(), reml=False)
    return result, record, result.confint("profile")


def test_profile_intervals_are_lme4s(profiled):
    result, record, table = profiled
    assert list(table.index) == record["rows"]
    lower, upper = np.array(record["profile_lower"]), np.array(record["profile_upper"])
    p = len(result.beta)
    se = result.se_beta.to_numpy()
    for bound, reference in (("lower", lower), ("upper", upper)):
        ours = table[bound].to_numpy()
        # the issue: fixed effects to 2% of a standard error, sigma to 0.5%
        assert np.all(np.abs(ours[-p:] - reference[-p:]) <= 0.02 * se)
        assert ours[-p - 1] == pytest.approx(reference[-p - 1], rel=5e-3)
        # standard deviations and correlations: 0.5% of the estimate, or exactly 0 at 0
        np.testing.assert_allclose(ours[:-p - 1], reference[:-p - 1], rtol=5e-3, atol=1e-6)


def test_zeta_is_zero_at_the_estimate_and_crosses_the_limits(profiled):
    result, _, table = profiled
    for name in ("sigma", result.fixed_names[0]):
        zeta, estimate = zeta_function(result, name)
        assert abs(zeta(estimate)) < 1e-3
        assert zeta(table.loc[name, "upper"]) == pytest.approx(1.959964, abs=1e-4)
        assert zeta(table.loc[name, "lower"]) == pytest.approx(-1.959964, abs=1e-4)


def test_the_profile_rises_and_reaches_the_level(profiled):
    result, _, _ = profiled
    curves = result.profile(n_points=5)
    assert list(dict.fromkeys(curves["parameter"])) == list(
        omega_names(result.design)) + list(result.fixed_names)
    for name, curve in curves.groupby("parameter", sort=False):
        assert np.all(np.diff(curve["zeta"]) > 0), name          # zeta increases
        ends = curve["zeta"].iloc[[0, -1]].abs().to_numpy()
        at_zero = name.startswith("sd_") and curve["value"].iloc[0] == 0
        assert ends[1] == pytest.approx(2.575829, abs=1e-3)      # 0.99 by default
        assert at_zero or ends[0] == pytest.approx(2.575829, abs=1e-3)


def test_a_variance_estimated_as_zero_has_a_lower_limit_of_zero():
    """Pastes' batch standard deviation (lme4: 0), and Dyestuff2's (estimate 0)."""
    with pytest.warns(UserWarning, match="singular"):
        result = fit("Yield ~ 1 + (1 | Batch)", data.load_dyestuff2(), reml=False)
    table = result.confint("profile")
    assert table.loc["sd_(Intercept)|Batch", "lower"] == 0.0
    assert table.loc["sd_(Intercept)|Batch", "upper"] > 1.0


def test_profiles_need_an_ml_fit():
    result = fit("Yield ~ 1 + (1 | Batch)", data.load_dyestuff())
    with pytest.raises(ValueError, match="reml=False"):
        result.confint("profile")


@pytest.mark.parametrize("seed", range(12))
def test_omega_and_theta_sigma_are_the_same_model(seed):
    rng = np.random.default_rng(300 + seed)
    formula, design = _random_design(rng)
    theta = np.maximum(_random_theta(design, rng), theta_lower(design.terms)) + 0.01
    omega = omega_from(theta, 1.7, design)
    back, sigma = theta_sigma(omega, design)
    np.testing.assert_allclose(back, theta, rtol=1e-7, atol=1e-9)
    assert sigma == 1.7
    # at sigma^2 = r^2/n the ML deviance in omega is the profiled deviance
    from lmm_teach.blocked import solve_blocked
    r2 = solve_blocked(theta, design).r2
    omega_at_hat = omega_from(theta, np.sqrt(r2 / len(design.y)), design)
    assert ml_deviance_omega(omega_at_hat, design) == pytest.approx(
        profiled_deviance(theta, design, False), abs=1e-7)


def test_simulated_responses_have_the_models_mean_and_covariance():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit("Reaction ~ Days + (Days | Subject)", data.load_sleepstudy())
    y = result.simulate(nsim=4000, seed=1)
    design = result.design
    assert y.shape == (180, 4000)
    np.testing.assert_array_equal(y, result.simulate(nsim=4000, seed=1))   # reproducible
    assert not np.array_equal(y[:, :10], result.simulate(nsim=10, seed=2))
    ZLambda = (design.Z @ Lambda(result.theta, design.terms)).toarray()
    V = result.sigma**2 * (ZLambda @ ZLambda.T + np.eye(180))
    mean_error = np.abs(y.mean(axis=1) - design.X @ result.beta_values)
    assert np.all(mean_error < 5 * np.sqrt(np.diag(V) / 4000))            # 5 Monte Carlo sd
    covariance = np.cov(y)
    rows = [0, 1, 9, 10, 100]                                 # same subject, and others
    standard = np.sqrt((np.outer(np.diag(V), np.diag(V)) + V**2) / 4000)[np.ix_(rows, rows)]
    assert np.all(np.abs(covariance[np.ix_(rows, rows)] - V[np.ix_(rows, rows)]) < 5 * standard)
    with pytest.raises(ValueError, match="nsim must be a positive integer"):
        result.simulate(nsim=0)


def test_the_bootstrap_is_reproducible_and_agrees_with_the_profile(profiled):
    """Percentile intervals from 300 replicates: the fixed effects' limits agree with the
    profile's within four Monte Carlo standard errors of a 2.5% quantile,
    sd * sqrt(p (1 - p) / nsim) / phi(z_p) with the bootstrap's own sd."""
    result, _, profile_table = profiled
    nsim = 300
    replicates = intervals.bootstrap(result, nsim, seed=5, progress=False)
    table = result.confint("bootstrap", nsim=nsim, seed=5)     # the same replicates again
    np.testing.assert_allclose(table["lower"], replicates.quantile(0.025), rtol=1e-12)
    np.testing.assert_allclose(table["upper"], replicates.quantile(0.975), rtol=1e-12)
    p, z = 0.025, 1.959964
    for name in result.fixed_names:
        sd = replicates[name].std()
        mc_error = sd * np.sqrt(p * (1 - p) / nsim) / stats.norm.pdf(z)
        for bound in ("lower", "upper"):
            assert abs(table.loc[name, bound] - profile_table.loc[name, bound]) < 4 * mc_error
    # sigma: the ML estimate is biased low, and percentile intervals carry the bias along
    sd = replicates["sigma"].std()
    assert abs(table.loc["sigma", "upper"] - profile_table.loc["sigma", "upper"]) < sd


def test_wald_intervals_for_variance_parameters_cross_the_boundary_where_profiles_do_not():
    """Pastes by ML: the Wald interval of the batch standard deviation, from the Hessian of
    the deviance in omega, goes below 0; the profile interval stops at 0. For sigma, far from
    any boundary, the two nearly agree."""
    from lmm_teach.intervals import omega_covariance
    record = data.load_lme4_confint_reference("pastes")
    result = fit(record["formula"], data.load_pastes(), reml=False)
    covariance = omega_covariance(result)
    np.testing.assert_allclose(covariance, covariance.T, rtol=1e-6)
    omega = omega_from(result.theta, result.sigma, result.design)
    se = np.sqrt(np.diag(covariance))
    names = omega_names(result.design)
    batch = names.index("sd_(Intercept)|batch")
    assert omega[batch] - 1.96 * se[batch] < 0 == record["profile_lower"][batch]
    sigma = names.index("sigma")
    assert omega[sigma] - 1.96 * se[sigma] == pytest.approx(record["profile_lower"][sigma],
                                                            rel=0.1)
    with pytest.raises(ValueError, match="reml=False"):
        omega_covariance(fit(record["formula"], data.load_pastes()))
