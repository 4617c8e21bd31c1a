"""Chapter 2: the model matrices, V, simulation, and the errors bad input gets."""

import numpy as np
import pandas as pd
import pytest

from lmm_teach.data import load_rail
from lmm_teach.model import (
    indicator_matrix,
    marginal_covariance,
    random_intercept_matrices,
    random_intercept_psi,
    simulate_y,
)


@pytest.mark.parametrize("groups, levels, columns", [
    (["b", "a", "b"], ("a", "b"), [1, 0, 1]),
    ([10, 9, 10, 2], ("2", "9", "10"), [2, 1, 2, 0]),     # integers sort as numbers
    (["x", "x", "y", "z"], ("x", "y", "z"), [0, 0, 1, 2]),  # unbalanced groups
])
def test_indicator_matrix(groups, levels, columns):
    Z, found = indicator_matrix(groups)
    assert found == levels
    np.testing.assert_array_equal(Z.sum(axis=1), 1.0)
    np.testing.assert_array_equal(Z.argmax(axis=1), columns)


def test_rail_matrices(rail):
    assert rail.X.shape == (18, 1) and rail.Z.shape == (18, 6)
    assert rail.fixed_names == ("(Intercept)",)
    assert rail.group_levels == ("1", "2", "3", "4", "5", "6")
    np.testing.assert_array_equal(rail.Z.sum(axis=0), 3.0)


def test_covariate_column(sleep):
    assert sleep.fixed_names == ("(Intercept)", "Days")
    np.testing.assert_array_equal(sleep.X[:10, 1], np.arange(10))


def test_marginal_covariance_is_compound_symmetric(rail):
    V = marginal_covariance(rail.Z, random_intercept_psi(500.0, 6), 16.0)
    assert V[0, 0] == 516.0 and V[0, 1] == 500.0 and V[0, 3] == 0.0
    np.testing.assert_allclose(V, V.T)


def test_simulation_matches_marginal_moments(rail):
    # y ~ N(X beta, V) (eq-marginal): 200,000 draws put the sample moments within a few
    # Monte Carlo standard errors (about 1.5 for a covariance of 516 here) of the truth.
    psi, sigma2, beta = random_intercept_psi(500.0, 6), 16.0, np.array([66.5])
    draws = simulate_y(rail.X, rail.Z, beta, psi, sigma2, 200_000, np.random.default_rng(1))
    np.testing.assert_allclose(draws.mean(axis=0), rail.X @ beta, atol=0.3)
    np.testing.assert_allclose(np.cov(draws.T), marginal_covariance(rail.Z, psi, sigma2), atol=8.0)


BAD_INPUT = [
    (lambda d: d.to_dict(), "travel", "Rail", TypeError, "must be a pandas DataFrame"),
    (lambda d: d.iloc[:0], "travel", "Rail", ValueError, "data has no rows"),
    (lambda d: d, "time", "Rail", ValueError, "column 'time' is not in the data"),
    (lambda d: d, "travel", "rail", ValueError, "column 'rail' is not in the data"),
    (lambda d: d.assign(travel=d.travel.astype(str)), "travel", "Rail", ValueError,
     "column 'travel' must be numeric"),
    (lambda d: d.assign(travel=d.travel.where(d.index != 3)), "travel", "Rail", ValueError,
     "column 'travel' has 1 missing or infinite value"),
    (lambda d: d.assign(travel=d.travel.replace(26, np.inf)), "travel", "Rail", ValueError,
     "column 'travel' has 1 missing or infinite value"),
    (lambda d: d.assign(Rail="1"), "travel", "Rail", ValueError,
     "grouping column 'Rail' has 1 level"),
    (lambda d: d.assign(Rail=[str(i) for i in range(18)]), "travel", "Rail", ValueError,
     "as many levels as observations"),
    (lambda d: d.assign(Rail=d.Rail.where(d.index != 0)), "travel", "Rail", ValueError,
     "grouping column 'Rail' has 1 missing value"),
]


@pytest.mark.parametrize("change, response, group, error, message", BAD_INPUT)
def test_bad_input_names_what_is_wrong(change, response, group, error, message):
    with pytest.raises(error, match=message):
        random_intercept_matrices(change(load_rail()), response, group)


def test_bad_covariate_is_named():
    frame = load_rail().assign(side=["left", "right"] * 9)
    with pytest.raises(ValueError, match="column 'side' must be numeric"):
        random_intercept_matrices(frame, "travel", "Rail", ["side"])
    with pytest.raises(ValueError, match="column 'speed' is not in the data"):
        random_intercept_matrices(frame, "travel", "Rail", ["speed"])


@pytest.mark.parametrize("sigma2_b", [0.0, -1.0, np.nan, np.inf])
def test_psi_needs_a_positive_variance(sigma2_b):
    with pytest.raises(ValueError, match="sigma2_b must be a positive, finite number"):
        random_intercept_psi(sigma2_b, 3)


def test_marginal_covariance_checks_shapes(rail):
    with pytest.raises(ValueError, match="psi must be 6 x 6"):
        marginal_covariance(rail.Z, np.eye(5), 1.0)
    with pytest.raises(ValueError, match="sigma2 must be a positive"):
        marginal_covariance(rail.Z, np.eye(6), 0.0)


def test_simulate_checks_beta_length(rail):
    with pytest.raises(ValueError, match="beta has 2 entries, but X has 1 columns"):
        simulate_y(rail.X, rail.Z, [1.0, 2.0], np.eye(6), 1.0, 3, np.random.default_rng(0))


def test_model_matrices_are_frozen(rail):
    with pytest.raises(AttributeError):
        rail.y = np.zeros(18)
    with pytest.raises(ValueError, match="read-only"):
        rail.Z[0, 0] = 5.0


def test_grouping_column_of_integers():
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 5.0], "g": [3, 1, 3, 1, 2]})
    matrices = random_intercept_matrices(frame, "y", "g")
    assert matrices.group_levels == ("1", "2", "3")


def test_covariates_must_be_a_list():
    with pytest.raises(TypeError, match=r"covariates must be a list of column names, such as \['side'\]"):
        random_intercept_matrices(load_rail(), "travel", "Rail", "side")


def test_constant_response_is_refused():
    with pytest.raises(ValueError, match="column 'travel' is constant"):
        random_intercept_matrices(load_rail().assign(travel=50), "travel", "Rail")
