"""optimize_theta reaches lme4's optimum, or a lower deviance, and says honestly whether it did.

Reference optima: tests/reference/lme4_optimum.json, made by tests/reference/lme4_optimum.R
with lme4 1.1-31 (``lmer(<formula>, data = <data>, REML = FALSE/TRUE)``; each case's R call is
its ``r_call``, its data tests/reference/data/optimum_<data>.csv, taken from R's datasets, nlme
and lme4 as the script says). They are random-slope models whose fits end on or near the
boundary. The models of lme4_extra.json (tests/test_lmer_extra.py) are checked here too, with
the one-sided rule; those of lme4_reference.json by tests/test_lmer.py to 1e-6 both ways.

Both local optimizers are checked: BOBYQA (NLopt, the default, as in lme4) and COBYQA (scipy).

Tolerance of "reaches": the deviance may exceed lme4's ``objective`` by at most 1e-6. BOBYQA
stops when its steps in theta are below 1e-8 and COBYQA when its trust region has shrunk to 1e-6,
so near a minimum the deviance either misses is about (curvature x step^2), far below 1e-6.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmm_teach
from lmm_teach import data
from lmm_teach.blocked import blocked_deviance
from lmm_teach.design import model_matrices
from lmm_teach.optimizer import (
    ConvergenceWarning,
    SingularFitWarning,
    column_flips,
    GRADIENT_TOLERANCE,
    deviance_gradient,
    deviance_hessian,
    gradient_check,
    hessian_evaluations,
    optimize_theta,
    run_cobyqa,
    scaled_gradient,
    separate_start,
    starting_point,
)
from lmm_teach.pls import profiled_deviance, theta_start
from test_lmer_extra import CHANGES, REFERENCE as EXTRA

HERE = Path(__file__).parent / "reference"
OPTIMUM = json.loads((HERE / "lme4_optimum.json").read_text())
OPTIMIZERS = ("bobyqa", "cobyqa")
CASES = [(case, method, optimizer) for case in OPTIMUM["cases"] for method in ("ML", "REML")
         for optimizer in OPTIMIZERS]


def _design(case):
    return model_matrices(case["formula"], pd.read_csv(HERE / case["csv"]))


@pytest.fixture(scope="module", params=CASES,
                ids=[f"{c['name']}-{m}-{o}" for c, m, o in CASES])
def optimum(request):
    case, method, optimizer = request.param
    design = _design(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        found = optimize_theta(design, reml=method == "REML", optimizer=optimizer)
    return found, case[method], design, method == "REML"


def test_reaches_lme4s_optimum_or_a_lower_deviance(optimum):
    found, lme4, design, reml = optimum
    # lme4: deviance(fit) for ML, REMLcrit(fit) for REML (lme4_optimum.R)
    assert found.deviance <= lme4["objective"] + 1e-6
    assert found.converged
    np.testing.assert_allclose(found.deviance, profiled_deviance(found.theta, design, reml), rtol=1e-12)


def test_theta_matches_lme4_where_both_reach_the_same_optimum(optimum):
    found, lme4, _, _ = optimum
    if found.deviance < lme4["objective"] - 1e-4:
        pytest.skip("lme4 stopped short of this optimum; theta is compared only at a shared one")
    # getME(fit, "theta"); the tolerance is that of two optimizers on a flat minimum
    np.testing.assert_allclose(found.theta, lme4["theta"], rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("case", EXTRA["cases"], ids=[c["name"] for c in EXTRA["cases"]])
def test_extra_models_reach_lme4s_optimum_or_better(case, optimizer):
    design = model_matrices(case["formula"], CHANGES[case["data"]]())
    for method in ("ML", "REML"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularFitWarning)
            found = optimize_theta(design, reml=method == "REML", optimizer=optimizer)
        # lmer(<formula>, data = <data>, REML = <method == "REML">): REMLcrit(fit) / deviance(fit)
        assert found.deviance <= case[method]["objective"] + 1e-6 and found.converged


def _loblolly(reml):
    return _design(next(c for c in OPTIMUM["cases"] if c["name"] == "loblolly")), reml


def test_one_cobyqa_run_stops_at_a_corner_and_the_column_flip_escapes_it():
    design, reml = _loblolly(True)
    lme4 = next(c for c in OPTIMUM["cases"] if c["name"] == "loblolly")["REML"]
    single = run_cobyqa(design, reml, theta_start(design.terms))
    assert single.x[0] == 0.0 and single.fun > lme4["objective"] + 0.1    # stuck at theta_1 = 0
    flipped = column_flips(single.x, design.terms)
    assert len(flipped) == 1 and flipped[0][1] == -single.x[1]
    np.testing.assert_allclose(profiled_deviance(flipped[0], design, reml), single.fun, rtol=1e-12)
    # at the corner the slope in theta_1 is positive: one-sided, it looks like a minimum
    assert deviance_gradient(single.x, design, reml)[0] > 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        found = optimize_theta(design, reml)
    # lmer(height ~ age + (age | Seed), data = loblolly, REML = TRUE): REMLcrit 419.59302
    assert found.deviance <= lme4["objective"] + 1e-6
    np.testing.assert_allclose(found.theta, lme4["theta"], rtol=2e-3, atol=1e-4)


def test_lme4s_own_corner_is_not_a_minimum():
    # lmer(height ~ age + (age | Seed), data = loblolly, REML = FALSE) stops at theta_1 = 0 with
    # theta_2 != 0; lme4 skips its gradient check on singular fits. The flip finds a lower deviance.
    design, reml = _loblolly(False)
    lme4 = next(c for c in OPTIMUM["cases"] if c["name"] == "loblolly")["ML"]
    assert lme4["theta"][0] == 0 and lme4["singular"]
    assert np.max(np.abs(deviance_gradient(np.array(lme4["theta"]), design, reml))) > 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        found = optimize_theta(design, reml)
    assert found.converged and found.deviance < lme4["objective"] - 0.1


def test_gradient_check_flags_a_point_that_is_not_an_optimum():
    design, reml = _loblolly(True)
    not_optimum = np.array([0.1, 0.02, 0.0])
    assert np.max(np.abs(deviance_gradient(not_optimum, design, reml))) > 2e-3


def test_stopping_early_is_reported_as_not_converged():
    design = _design(next(c for c in OPTIMUM["cases"] if c["name"] == "sleep_subset"))
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        found = optimize_theta(design, reml=True, max_evaluations=5)
    assert not found.converged


def test_gradient_is_central_and_symmetric_across_a_zero_diagonal():
    design, reml = _loblolly(True)
    theta = np.array([0.0, 0.03, 0.01])
    mirror = column_flips(theta, design.terms)[0]
    np.testing.assert_allclose(mirror, [0.0, -0.03, 0.01])
    # d(-h, v) = d(h, -v): the derivative in theta_1 changes sign with the flip
    np.testing.assert_allclose(deviance_gradient(mirror, design, reml)[0],
                               -deviance_gradient(theta, design, reml)[0], rtol=1e-5)


def test_one_bobyqa_run_reports_where_it_stopped_and_how():
    from lmm_teach.optimizer import run_bobyqa

    design, reml = _loblolly(True)
    run = run_bobyqa(design, reml, theta_start(design.terms))
    assert run.success and run.nfev > 7                # 2 * 3 + 1 points before its first model
    np.testing.assert_allclose(run.fun, profiled_deviance(run.x, design, reml), rtol=1e-12)
    short = run_bobyqa(design, reml, theta_start(design.terms), max_evaluations=9)
    assert not short.success and short.nfev == 9


def test_an_unknown_optimizer_is_refused_by_name():
    design, reml = _loblolly(True)
    with pytest.raises(ValueError, match="'nelder-mead'"):
        optimize_theta(design, reml, optimizer="nelder-mead")


def _steep_one_term_design():
    """y ~ 1 + (1 | g) with 20,000 rows in 200 groups (seeded): a steep deviance in theta."""
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(200), 100)
    data = pd.DataFrame({"y": rng.standard_normal(200)[g] * 0.5 + rng.standard_normal(g.size),
                         "g": g.astype(str)})
    return model_matrices("y ~ 1 + (1 | g)", data)


def test_hessian_matches_central_four_point_differences():
    design = _design(next(c for c in OPTIMUM["cases"] if c["name"] == "sleep_subset"))
    found = optimize_theta(design, reml=True)
    theta, value, h = found.theta, found.deviance, 1e-3
    hessian = deviance_hessian(theta, design, True, value)
    steps = h * np.eye(theta.size)
    d = lambda t: profiled_deviance(t, design, True)   # the readable engine, independently
    central = np.array([[(d(theta + a + b) - d(theta + a - b) - d(theta - a + b)
                          + d(theta - a - b)) / (4 * h * h) for b in steps] for a in steps])
    np.testing.assert_allclose(hessian, central, rtol=2e-3, atol=1e-3 * np.abs(central).max())
    np.testing.assert_array_equal(hessian, hessian.T)
    assert np.all(np.linalg.eigvalsh(hessian) > 0)      # a minimum: positive definite
    assert hessian_evaluations(3) == 2 * 3 + 3


def test_scaled_gradient_solves_with_the_upper_cholesky_factor():
    H = np.array([[4.0, 1.0], [1.0, 3.0]])
    g = np.array([1.0, -2.0])
    U = np.linalg.cholesky(H).T                         # H = U'U, U upper triangular
    np.testing.assert_allclose(U @ scaled_gradient(g, H), g)
    np.testing.assert_allclose(scaled_gradient(np.array([3.0]), np.array([[9.0]])), [1.0])
    assert scaled_gradient(g, np.array([[1.0, 2.0], [2.0, 1.0]])) is None   # not pos. def.


def test_gradient_check_passes_a_steep_near_optimum_on_the_scaled_gradient():
    # lme4's rule: min(|g|, |g / sqrt(H)|) <= 2e-3. Moving delta from the optimum gives
    # g ~ H delta and g / sqrt(H) ~ sqrt(H) delta: between the two for 2e-3/H < delta < 2e-3/sqrt(H)
    design = _steep_one_term_design()
    found = optimize_theta(design, reml=True)
    H = deviance_hessian(found.theta, design, True, found.deviance)[0, 0]
    assert H > 1e3                                      # steep: many rows per group
    near = found.theta + GRADIENT_TOLERANCE / H ** 0.75
    check = gradient_check(near, design, True, profiled_deviance(near, design, True))
    assert abs(check.gradient[0]) > GRADIENT_TOLERANCE and check.passes
    np.testing.assert_allclose(check.scaled, check.gradient / np.sqrt(H), rtol=0.05)
    assert check.n_evaluations == 2 + hessian_evaluations(1)
    far = found.theta + 5 * GRADIENT_TOLERANCE / np.sqrt(H)
    assert not gradient_check(far, design, True, profiled_deviance(far, design, True)).passes


def test_gradient_check_skips_the_hessian_when_the_gradient_passes():
    design = _steep_one_term_design()
    found = optimize_theta(design, reml=True)
    check = gradient_check(found.theta, design, True, found.deviance)
    assert check.passes and check.scaled is None and check.n_evaluations == 2
    assert found.converged and found.n_evaluations > check.n_evaluations


def test_the_search_stops_on_steps_or_changes_and_the_closer_look_on_steps_alone():
    from lmm_teach.optimizer import run_bobyqa

    design = _steep_one_term_design()
    search = run_bobyqa(design, True, theta_start(design.terms))
    closer = run_bobyqa(design, True, search.x, initial_step=1e-3, polish=True)
    assert search.message.endswith(("code 3", "code 4"))    # FTOL_REACHED or XTOL_REACHED
    assert not closer.message.endswith("code 3")             # never FTOL_REACHED
    assert closer.fun <= search.fun + 1e-8


def _crossed_design(seed: int, J: tuple[int, ...], sd: tuple[float, ...], sd_e: float,
                    n: int):
    """y ~ 1 + (1 | f0) + (1 | f1) + ..., crossed factors with J[i] levels and standard
    deviation sd[i], seeded."""
    rng = np.random.default_rng(seed)
    codes = [rng.integers(0, J_i, n) for J_i in J]
    y = sum(rng.standard_normal(J_i)[c] * s_i for J_i, c, s_i in zip(J, codes, sd))
    frame = pd.DataFrame({"y": y + rng.standard_normal(n) * sd_e}
                         | {f"f{i}": c.astype(str) for i, c in enumerate(codes)})
    terms = " + ".join(f"(1 | f{i})" for i in range(len(J)))
    return model_matrices(f"y ~ 1 + {terms}", frame)


def _few_levels_design():
    """Three crossed factors, the last with 4 levels and a small variance: T_i = I is far out
    in the flat direction of that factor, and the separate fits are closer."""
    return _crossed_design(11, (300, 120, 4), (0.6, 0.3, 0.1), 1.0, 6000)


def _large_effects_design():
    """Two crossed factors with large variances and a small residual: alone, each factor's
    theta is relative to a residual that holds the other's variance, and T_i = I is closer."""
    return _crossed_design(5, (150, 120), (1.0, 2.0), 0.3, 3000)


def test_separate_start_is_each_term_fitted_alone():
    frame = data.load_penicillin()
    design = model_matrices("diameter ~ 1 + (1 | plate) + (1 | sample)", frame)
    start, evaluations = separate_start(design, True)
    for i, term in enumerate(design.terms):
        alone = optimize_theta(model_matrices(f"diameter ~ 1 + {term.name}", frame), True)
        np.testing.assert_allclose(start[i], alone.theta[0], atol=2e-2)   # to about 1e-2
    assert evaluations > 0


def test_the_search_begins_where_the_deviance_is_lower():
    chosen = {}
    for name, design in [("large effects", _large_effects_design()),
                         ("few levels", _few_levels_design())]:
        separate, _ = separate_start(design, True)
        ones = theta_start(design.terms)
        start, evaluations = starting_point(design, True, "separate")
        d = [blocked_deviance(t, design, True) for t in (ones, separate)]
        np.testing.assert_array_equal(start, ones if d[0] <= d[1] else separate)
        chosen[name] = "ones" if d[0] <= d[1] else "separate"
        assert evaluations > 2
    assert chosen == {"large effects": "ones", "few levels": "separate"}   # both branches
    few = _few_levels_design()
    np.testing.assert_array_equal(starting_point(few, True, "lme4")[0], [1.0, 1.0, 1.0])


def test_no_separate_fits_when_the_later_terms_are_few():
    # Penicillin: 6 samples after 24 plates, below SEPARATE_MIN_COLUMNS = 100
    design = model_matrices("diameter ~ 1 + (1 | plate) + (1 | sample)",
                            data.load_penicillin())
    start, evaluations = starting_point(design, True, "separate")
    np.testing.assert_array_equal(start, [1.0, 1.0])
    assert evaluations == 0


def test_both_starts_reach_the_same_optimum():
    for design in [_few_levels_design(), _large_effects_design()]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularFitWarning)
            default = optimize_theta(design, True)
            lme4_start = optimize_theta(design, True, start="lme4")
        assert default.converged and lme4_start.converged
        np.testing.assert_allclose(default.deviance, lme4_start.deviance, atol=1e-6)
        np.testing.assert_allclose(default.theta, lme4_start.theta, atol=1e-3)
        np.testing.assert_array_equal(lme4_start.start, theta_start(design.terms))
        assert lme4_start.n_start_evaluations == 0 < default.n_start_evaluations


def test_an_unknown_start_is_refused_by_name():
    design, reml = _loblolly(True)
    with pytest.raises(ValueError, match="'zeros'"):
        optimize_theta(design, reml, start="zeros")
    with pytest.raises(ValueError, match="'zeros'"):
        lmm_teach.fit("diameter ~ 1 + (1 | plate)", data.load_penicillin(), start="zeros")


def test_fit_passes_the_start_on():
    from unittest import mock

    import lmm_teach.lmer

    frame = data.load_penicillin()
    with mock.patch.object(lmm_teach.lmer, "optimize_theta", wraps=optimize_theta) as spy:
        default = lmm_teach.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", frame)
        assert spy.call_args.kwargs["start"] == "separate"
        lme4_start = lmm_teach.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", frame,
                                   start="lme4")
        assert spy.call_args.kwargs["start"] == "lme4"
    np.testing.assert_allclose(default.deviance, lme4_start.deviance, atol=1e-6)
