"""Checks behind chapter 12, *Nested and crossed factors*: nesting by label, the structure of L.

No package function was added for chapter 12; these tests pin the engine's behaviour that the
chapter's prose relies on.
"""

import numpy as np
import pytest

from lmm_teach import fit
from lmm_teach.data import load_lme4_reference, load_pastes, load_penicillin
from lmm_teach.design import model_matrices
from lmm_teach.formula import parse_formula
from lmm_teach.pls import Lambda, cholesky_L


@pytest.fixture(scope="module")
def pastes():
    return load_pastes()


def test_nested_shorthand_expands_to_interaction():
    parsed = parse_formula("strength ~ 1 + (1 | batch/cask)")
    assert [term.group for term in parsed.random] == ["batch", "cask:batch"]


def test_unique_labels_give_the_nested_model(pastes):
    # lmer(strength ~ 1 + (1 | batch/cask), Pastes, REML = FALSE): logLik -123.9972
    nested = fit("strength ~ 1 + (1 | batch/cask)", pastes, reml=False)
    unique_labels = fit("strength ~ 1 + (1 | batch) + (1 | sample)", pastes, reml=False)
    np.testing.assert_allclose(nested.loglik, load_lme4_reference("pastes", "ML")["loglik"], atol=1e-4)
    np.testing.assert_allclose(unique_labels.loglik, nested.loglik, atol=1e-8)


def test_implicit_nesting_fits_a_crossed_model(pastes):
    crossed = fit("strength ~ 1 + (1 | batch) + (1 | cask)", pastes, reml=False)
    assert dict(crossed.ngroups) == {"batch": 10, "cask": 3}
    assert crossed.loglik < -150


def test_casks_only_model(pastes):
    # statsmodels: mixedlm("strength ~ 1", groups="batch", vc_formula={"cask": "0 + C(cask)"}) by ML
    # has no batch intercept and logLik -124.2008, the same as (1 | cask:batch) alone.
    np.testing.assert_allclose(fit("strength ~ 1 + (1 | cask:batch)", pastes, reml=False).loglik,
                               -124.2008, atol=1e-3)


@pytest.mark.parametrize("dataset, formula, fill_in", [
    ("pastes", "strength ~ 1 + (1 | batch/cask)", 0),          # nested: no fill-in
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", 15),   # crossed: dense 6 x 6 block
])
def test_fill_in_of_L(dataset, formula, fill_in):
    data = load_pastes() if dataset == "pastes" else load_penicillin()
    design = model_matrices(formula, data)
    theta = np.array(load_lme4_reference(dataset, "ML")["theta"])
    ZLambda = design.Z @ Lambda(theta, design.terms)
    M = (ZLambda.T @ ZLambda).toarray() + np.eye(ZLambda.shape[1])
    L = cholesky_L(ZLambda)
    count = lambda A: int(np.count_nonzero(np.abs(A) > 1e-12))
    assert count(L) - count(np.tril(M)) == fill_in


def _three_level_design():
    """A made-up 4 regions / 3 schools / 4 classes / 2 pupils design, labels reused per parent."""
    import pandas as pd
    rows = [(region, school, klass, pupil) for region in "ABCD" for school in ("s1", "s2", "s3")
            for klass in ("c1", "c2", "c3", "c4") for pupil in (1, 2)]
    frame = pd.DataFrame(rows, columns=["region", "school", "klass", "pupil"])
    frame["score"] = np.random.default_rng(2026).normal(size=len(frame))
    return model_matrices("score ~ 1 + (1 | region/school/klass)", frame)


@pytest.mark.parametrize("theta", [(1.0, 1.0, 1.0), (0.3, 2.0, 0.7)])
def test_no_fill_in_with_three_nested_levels(theta):
    # Chapter 12: nested factors in lme4's order (most levels first) give L the exact pattern of
    # the lower triangle of Lambda' Z' Z Lambda + I, however deep the nesting.
    design = _three_level_design()
    assert [len(t.levels) for t in design.terms] == [48, 12, 4]     # class:school:region first
    ZLambda = design.Z @ Lambda(np.array(theta), design.terms)
    M = (ZLambda.T @ ZLambda).toarray() + np.eye(64)
    L = cholesky_L(ZLambda)
    np.testing.assert_array_equal(np.abs(L) > 1e-12, np.abs(np.tril(M)) > 1e-12)
    # the opposite order (regions first) fills in: per region 3 school pairs, 12 classes x 2
    # other schools, 66 class pairs
    outer_first = np.r_[np.arange(60, 64), np.arange(48, 60), np.arange(48)]
    L_outer = cholesky_L(ZLambda[:, outer_first])
    M_outer = M[np.ix_(outer_first, outer_first)]
    count = lambda A: int(np.count_nonzero(np.abs(A) > 1e-12))
    assert count(L_outer) - count(np.tril(M_outer)) == 4 * (3 + 24 + 66)
