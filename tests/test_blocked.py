"""The fast engine (chapter 19) against the readable one (chapter 10), and the identities of the
blocked factorization.

The two engines must agree to 1e-8 in the deviance on every model of the tests (the reference
models of lme4_reference.json, tests/reference/lme4_formulas.json, lme4_extra.json and
lme4_optimum.json, at lme4's estimates and away from them) and on random models: crossed and
nested factors, vector-valued terms, several terms on one factor, prior weights, and theta with
zeros on the diagonal. lme4's own numbers are checked by the other test files, which run the
fast engine, ``fit``'s default.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from lmm_teach import data, fit
from lmm_teach.blocked import (
    SMALL_Q,
    deviance_from_blocks,
    deviance_from_dense,
    deviance_from_gram,
    batched_backward,
    batched_cholesky,
    batched_forward,
    blocked_deviance,
    congruence,
    each_times,
    blocked_factor,
    dense_L,
    level_cross_sums,
    levels_last,
    schur_downdate,
    schur_downdate_pairs,
    solve_blocked,
    stack_matmul,
    term_gram,
    times_each,
)
from lmm_teach.design import model_matrices
from lmm_teach.optimizer import optimize_theta
from lmm_teach.pls import Lambda, profiled_deviance, solve_pls, theta_lower, theta_start
from test_lmer_extra import CHANGES

REFERENCE = Path(__file__).parent / "reference"
AGREE = dict(rtol=0, atol=1e-8)        # the promise: 1e-8 in the deviance


def _reference_models() -> list[tuple[str, str, pd.DataFrame, object, dict]]:
    """(name, formula, data, weights, {method: lme4's theta}) for every reference model."""
    models = []
    for record in json.loads((Path(data.__file__).parent / "data" / "lme4_reference.json")
                             .read_text()):
        frame = getattr(data, f"load_{record['dataset']}")()
        thetas = {m: np.atleast_1d(record["fits"][m]["theta"]) for m in ("ML", "REML")}
        models.append((record["dataset"], record["formula"], frame, None, thetas))
    for file, read in [("lme4_formulas.json", lambda c: pd.read_csv(REFERENCE / "data"
                                                                     / f"{c['data']}.csv")),
                       ("lme4_optimum.json", lambda c: pd.read_csv(REFERENCE / c["csv"])),
                       ("lme4_extra.json", lambda c: CHANGES[c["data"]]())]:
        for case in json.loads((REFERENCE / file).read_text())["cases"]:
            thetas = {m: np.atleast_1d(case[m]["theta"]) for m in ("ML", "REML")}
            models.append((case["name"], case["formula"], read(case), case.get("weights"),
                           thetas))
    return models


MODELS = _reference_models()


def _design(formula, frame, weights):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)     # dropped rows: tested elsewhere
        return model_matrices(formula, frame, weights)


@pytest.mark.parametrize("name, formula, frame, weights, thetas", MODELS,
                         ids=[m[0] for m in MODELS])
def test_engines_agree_on_every_reference_model(name, formula, frame, weights, thetas):
    design = _design(formula, frame, weights)
    rng = np.random.default_rng(len(name))
    for method, theta in thetas.items():
        reml = method == "REML"
        away = np.maximum(theta + rng.normal(scale=0.3, size=theta.size), theta_lower(design.terms))
        for point in (theta, away, theta_start(design.terms)):
            readable = profiled_deviance(point, design, reml)
            np.testing.assert_allclose(blocked_deviance(point, design, reml), readable, **AGREE)
            # the blocked route too, where a small model takes the dense one by default
            np.testing.assert_allclose(deviance_from_blocks(point, design.gram, reml), readable,
                                       **AGREE)


def _random_model(rng: np.random.Generator) -> tuple[str, pd.DataFrame, object]:
    """A random formula and data: 1-3 terms, crossed or nested factors, slopes, weights."""
    n = int(rng.integers(40, 250))
    g = rng.integers(0, rng.integers(3, 25), n)
    frame = pd.DataFrame({"g": g, "h": rng.integers(0, rng.integers(2, 9), n),
                          "nest": g * 10 + rng.integers(0, 3, n), "x": rng.normal(size=n),
                          "z": rng.uniform(0, 5, n), "w": rng.uniform(0.2, 3, n)})
    frame["y"] = 2 + frame.x + rng.normal(size=g.max() + 1)[g] + rng.normal(size=n)
    fixed = rng.choice(["1", "x", "x + z"])
    pool = ["(1 | g)", "(x | g)", "(1 + x + z | g)", "(1 | h)", "(z | h)", "(1 | nest)",
            "(x || nest)", "(0 + z | g)", "(1 | g:h)"]
    terms = rng.choice(pool, size=rng.integers(1, 4), replace=False)
    weights = "w" if rng.random() < 0.4 else None
    return f"y ~ {fixed} + {' + '.join(terms)}", frame, weights


def _random_design(rng: np.random.Generator):
    """A random formula and its design (:func:`_random_model`), or a skip of the test when
    the model is not identifiable on its random data."""
    formula, frame, weights = _random_model(rng)
    try:
        return formula, _design(formula, frame, weights)
    except ValueError:
        pytest.skip(f"{formula}: not identifiable on these data")


def _random_theta(design, rng: np.random.Generator) -> np.ndarray:
    """Diagonal entries in [0, 3), a quarter of them exactly 0; others anywhere in (-2, 2)."""
    lower = theta_lower(design.terms)
    theta = np.where(lower == 0, rng.uniform(0, 3, lower.size), rng.uniform(-2, 2, lower.size))
    return np.where((lower == 0) & (rng.random(lower.size) < 0.25), 0.0, theta)


@pytest.mark.parametrize("seed", range(40))
def test_engines_agree_on_random_models(seed):
    rng = np.random.default_rng(seed)
    formula, design = _random_design(rng)
    for _ in range(3):
        theta = _random_theta(design, rng)
        for reml in (False, True):
            readable = profiled_deviance(theta, design, reml)
            for route in (blocked_deviance(theta, design, reml),
                          deviance_from_blocks(theta, design.gram, reml)):
                np.testing.assert_allclose(route, readable, **AGREE,
                                           err_msg=f"{formula} at theta = {theta}")
        fast, readable = solve_blocked(theta, design), solve_pls(theta, design)
        np.testing.assert_allclose(fast.beta, readable.beta, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(fast.b, readable.b, rtol=1e-7, atol=1e-9)


def _crossed_frame() -> pd.DataFrame:
    return data.load_penicillin().assign(x=lambda d: np.arange(len(d)) % 5 - 2.0,
                                         w=lambda d: 1 + (np.arange(len(d)) % 3))


@pytest.fixture(scope="module")
def crossed():
    """Penicillin with a made-up slope in each term, and weights: a first term with k = 2 and
    a rest with k = 2."""
    design = model_matrices("diameter ~ x + (x | plate) + (x | sample)", _crossed_frame(), "w")
    return design, np.array([1.2, -0.3, 0.4, 0.8, 0.2, 0.5])


def test_gram_blocks_are_the_cross_products_of_Z_X_y(crossed):
    """Each block equals the same block of [Z X y]' H [Z X y], formed densely."""
    design, _ = crossed
    gram, q_1 = design.gram, len(design.terms[0].levels) * design.terms[0].k
    H = sparse.diags(design.weights)
    ZtZ = (design.Z.T @ H @ design.Z).toarray()
    Xy = np.column_stack([design.X, design.y])
    np.testing.assert_allclose(sparse.block_diag(list(gram.Z1tZ1)).toarray(), ZtZ[:q_1, :q_1])
    np.testing.assert_allclose(gram.Z2mtZ1.toarray(), ZtZ[q_1:, :q_1])
    np.testing.assert_allclose(gram.Z2mtZ2m, ZtZ[q_1:, q_1:])
    ZtXy = design.Z.T @ H @ Xy
    np.testing.assert_allclose(gram.Z1tXy.reshape(q_1, -1), ZtXy[:q_1])
    np.testing.assert_allclose(gram.Z2mtXy, ZtXy[q_1:])
    np.testing.assert_allclose(gram.XytXy, Xy.T @ H @ Xy)
    np.testing.assert_allclose(gram.sum_log_w, np.sum(np.log(design.weights)))


def test_blocked_L_times_its_transpose_is_what_it_factors(crossed):
    """L L' = Lambda' Z' H Z Lambda + I, and L is the readable engine's L (Cholesky is unique)."""
    design, theta = crossed
    L = dense_L(blocked_factor(theta, design.gram), design.gram)
    ZLambda = sparse.diags(np.sqrt(design.weights)) @ design.Z @ Lambda(theta, design.terms)
    np.testing.assert_allclose(L @ L.T, (ZLambda.T @ ZLambda).toarray() + np.eye(L.shape[0]),
                               atol=1e-10)
    np.testing.assert_allclose(L, solve_pls(theta, design).L, atol=1e-10)
    assert np.allclose(L, np.tril(L))


def test_R_Xy_holds_R_X_c_beta_and_r(crossed):
    """The last column of [X y] turns the factor of X's block into R_X, c_beta and r."""
    design, theta = crossed
    R_Xy, readable = blocked_factor(theta, design.gram).R_Xy, solve_pls(theta, design)
    p = design.X.shape[1]
    np.testing.assert_allclose(R_Xy[:p, :p], readable.R_X, rtol=1e-10)
    np.testing.assert_allclose(R_Xy[p, p] ** 2, readable.r2, rtol=1e-10)
    np.testing.assert_allclose(R_Xy[:p, :p] @ readable.beta, R_Xy[:p, p], rtol=1e-10)


def test_batched_steps_equal_numpy_one_level_at_a_time():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(50, 3, 3))
    M = stack_matmul(A, A.swapaxes(1, 2)) + np.eye(3)
    B = rng.normal(size=(50, 3, 4))
    np.testing.assert_allclose(stack_matmul(A, B), A @ B, atol=1e-12)
    L = batched_cholesky(M)
    np.testing.assert_allclose(L, np.linalg.cholesky(M), atol=1e-12)
    np.testing.assert_allclose(batched_forward(L, B), np.linalg.solve(L, B), atol=1e-10)
    np.testing.assert_allclose(batched_backward(L, B), np.linalg.solve(L.swapaxes(1, 2), B),
                               atol=1e-10)
    T = np.tril(rng.normal(size=(3, 3)))
    np.testing.assert_allclose(times_each(T.T, B), T.T @ B, atol=1e-12)
    np.testing.assert_allclose(each_times(B.swapaxes(1, 2), T), B.swapaxes(1, 2) @ T,
                               atol=1e-12)
    np.testing.assert_allclose(congruence(T, M), T.T @ M @ T, atol=1e-10)


@pytest.mark.parametrize("layout", ["levels first", "levels last"])
def test_batched_steps_give_the_same_numbers_whatever_the_layout(layout):
    rng = np.random.default_rng(4)
    A = rng.normal(size=(40, 2, 2))
    M, B = A @ A.swapaxes(1, 2) + np.eye(2), rng.normal(size=(40, 2, 3))
    if layout == "levels last":
        M, B = levels_last(M), levels_last(B)
        assert M.transpose(1, 2, 0).flags.c_contiguous and levels_last(M) is M
    np.testing.assert_array_equal(levels_last(np.ascontiguousarray(M)), M)
    L = batched_cholesky(M)
    assert L.transpose(1, 2, 0).flags.c_contiguous          # results are stored levels last
    np.testing.assert_allclose(L, np.linalg.cholesky(np.ascontiguousarray(M)), atol=1e-12)
    np.testing.assert_allclose(batched_forward(L, B), np.linalg.solve(L, B), atol=1e-10)
    np.testing.assert_allclose(stack_matmul(M, B), M @ B, atol=1e-12)


def test_the_first_terms_gram_blocks_are_stored_levels_last(crossed):
    gram = crossed[0].gram
    for stack in (gram.Z1tZ1, gram.Z1tXy):
        assert stack.transpose(1, 2, 0).flags.c_contiguous


def test_level_cross_sums_are_sums_over_each_level():
    codes = np.array([0, 2, 2, 1, 0, 2])
    A, B = np.arange(12.0).reshape(6, 2), np.arange(6.0)[:, None] ** 2
    sums = level_cross_sums(codes, 4, A, B)
    for j in range(4):
        rows = codes == j
        np.testing.assert_allclose(sums[j], A[rows].T @ B[rows])
    np.testing.assert_array_equal(sums[3], 0)           # a level with no rows sums to 0


def test_fits_by_the_two_engines_are_the_same():
    """fit(engine="readable") is chapter 10's engine; both reach the same optimum."""
    penicillin = data.load_penicillin()
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    fast, readable = (fit(formula, penicillin, engine=e) for e in ("fast", "readable"))
    np.testing.assert_allclose(fast.deviance, readable.deviance, atol=1e-6)
    np.testing.assert_allclose(fast.theta, readable.theta, rtol=1e-3)
    np.testing.assert_allclose(fast.beta, readable.beta, rtol=1e-6)
    np.testing.assert_allclose(fast.se_beta, readable.se_beta, rtol=1e-4)
    np.testing.assert_allclose(fast.ranef["plate"], readable.ranef["plate"], rtol=1e-3, atol=1e-6)


def test_an_unknown_engine_is_refused_by_name():
    with pytest.raises(ValueError, match="'dense'"):
        fit("Reaction ~ Days + (1 | Subject)", data.load_sleepstudy(), engine="dense")
    with pytest.raises(ValueError, match="engine must be one of"):
        optimize_theta(model_matrices("Yield ~ 1 + (1 | Batch)", data.load_dyestuff()), True,
                       engine="sparse")


def test_theta_of_the_wrong_length_is_refused():
    design = model_matrices("Reaction ~ Days + (Days | Subject)", data.load_sleepstudy())
    with pytest.raises(ValueError, match="theta has 2 values; these terms need 3"):
        blocked_deviance([1.0, 0.0], design, True)


def test_blocks_summed_over_pieces_give_the_deviance_of_the_whole():
    """Chapter 19's point for data read in pieces: the Gram blocks are sums over rows."""
    from lmm_teach.blocked import TermShape, deviance_from_gram, gram_from_sums

    sleep = data.load_sleepstudy()
    design = model_matrices("Reaction ~ Days + (Days | Subject)", sleep)
    levels = pd.Categorical(sleep.Subject).categories
    sums = [np.zeros((18, 2, 2)), np.zeros((18, 2, 3)), np.zeros((3, 3))]
    for piece in np.array_split(np.arange(180), 7):
        rows = sleep.iloc[piece]
        codes = pd.Categorical(rows.Subject, categories=levels).codes
        X_i = np.column_stack([np.ones(len(rows)), rows.Days])
        Xy = np.column_stack([X_i, rows.Reaction])
        for total, part in zip(sums, [level_cross_sums(codes, 18, X_i, X_i),
                                      level_cross_sums(codes, 18, X_i, Xy), Xy.T @ Xy]):
            total += part
    gram = gram_from_sums((TermShape(18, 2),), *sums, n=180)
    theta = np.array([0.9667, 0.0152, 0.2309])
    for reml in (False, True):
        np.testing.assert_allclose(deviance_from_gram(theta, gram, reml),
                                   profiled_deviance(theta, design, reml), **AGREE)


def test_the_three_downdate_methods_agree(crossed):
    """Pair by pair, dense and sparse products give the same Schur downdate."""
    from lmm_teach.blocked import downdate_pairs, schur_downdate_dense

    design, _ = crossed
    gram = design.gram
    rng = np.random.default_rng(11)
    blocks = rng.normal(size=gram.Z1tZ1.shape)
    H = stack_matmul(blocks.swapaxes(1, 2), blocks)
    readable = schur_downdate(H, gram)
    pairs = downdate_pairs(gram.Z2mtZ1, design.terms[0].k)
    q_2m = gram.Z2mtZ2m.shape[0]
    np.testing.assert_allclose(schur_downdate_pairs(H, pairs, q_2m), readable, atol=1e-10)
    np.testing.assert_allclose(schur_downdate_dense(H, gram.Z2mtZ1.toarray()), readable,
                               atol=1e-10)


def test_the_downdate_method_follows_the_cost():
    """Few levels after the first term: a dense product; many crossed levels: pairs."""
    from lmm_teach.blocked import downdate_method

    rng = np.random.default_rng(5)
    few = sparse.random(6, 400, density=0.9, random_state=rng, format="csr")
    pairs, dense = downdate_method(few, 1)
    assert pairs is None and dense.shape == (6, 400)
    many = sparse.random(3000, 3000, density=0.002, random_state=rng, format="csr")
    pairs, dense = downdate_method(many, 1)
    assert dense is None and pairs is not None


def test_too_many_random_effects_after_the_first_term_are_refused_by_name():
    """A dense L_22 of 18,966 columns (the levels of b that occur) would take 3 GiB: a
    ValueError names the terms."""
    rng = np.random.default_rng(2)
    n = 60_000
    frame = pd.DataFrame({"y": rng.normal(size=n), "a": rng.integers(0, 25_000, n),
                          "b": rng.integers(0, 20_000, n)})
    with pytest.raises(ValueError, match=r"the first, \(1 \| b\), have 18,966 random"):
        fit("y ~ 1 + (1 | a) + (1 | b)", frame)
    with pytest.raises(ValueError, match="engine=.readable. would form a dense 41,663 x 41,663"):
        fit("y ~ 1 + (1 | a) + (1 | b)", frame, engine="readable")


def test_a_term_alone_has_the_gram_blocks_of_its_own_model(crossed):
    """term_gram(gram, i) cut out of the whole model's blocks gives the deviance of the model
    with term i alone (same X, y and weights), for the first term and a later vector term."""
    design, _ = crossed
    rng = np.random.default_rng(3)
    for i, term in enumerate(design.terms):
        alone = model_matrices(f"diameter ~ x + {term.name}", _crossed_frame(), "w")
        for _ in range(3):
            theta = rng.uniform(0.1, 1.5, 3) * np.array([1, rng.choice([-1, 1]), 1])
            assert term.k == 2
            for reml in (False, True):
                np.testing.assert_allclose(
                    deviance_from_gram(theta, term_gram(design.gram, i), reml),
                    blocked_deviance(theta, alone, reml), **AGREE)


def test_a_later_scalar_term_alone_in_a_three_term_model():
    frame = data.load_pastes()
    design = model_matrices("strength ~ 1 + (1 | sample) + (1 | batch) + (1 | cask)", frame)
    for i, term in enumerate(design.terms):
        alone = model_matrices(f"strength ~ 1 + {term.name}", frame)
        np.testing.assert_allclose(deviance_from_gram([0.7], term_gram(design.gram, i), True),
                                   blocked_deviance([0.7], alone, True), **AGREE)


def test_small_models_take_the_dense_route_and_large_ones_the_blocks(crossed):
    design, theta = crossed                        # q = 48 + 12 = 60: small
    assert sum(t.J * t.k for t in design.gram.terms) <= SMALL_Q and design.gram.dense
    for reml in (False, True):
        np.testing.assert_allclose(deviance_from_dense(theta, design.gram, reml),
                                   deviance_from_blocks(theta, design.gram, reml), **AGREE)
    large = model_matrices("y ~ 1 + (1 | g)", pd.DataFrame(
        {"y": np.arange(200.0) % 7, "g": np.arange(200) % (SMALL_Q + 1)}))
    assert large.gram.dense is None                 # SMALL_Q + 1 random effects: the blocks
