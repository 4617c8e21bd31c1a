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
