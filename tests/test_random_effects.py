"""The random effects after the fit (lmm_teach.random_effects): conditional covariances
against lme4's ranef(condVar = TRUE) and against the dense formula of chapter 12; fitted
values, residuals and predictions against lme4's predict.

References: the package's lme4_condvar_reference.json (made by lmm_teach/data/lme4_condvar.R)
and lme4_predict.json (made by lmm_teach/data/lme4_predict.R).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import linalg

from lmm_teach import data, fit, random_effects
from lmm_teach.pls import Lambda, solve_pls, theta_lower
from lmm_teach.random_effects import conditional_covariances
from test_blocked import _design, _random_design, _random_theta
from test_lmer_extra import CHANGES

PREDICT = {"cases": [data.load_lme4_predict_reference(name)
                     for name in ("sleepstudy", "sleep_interaction", "penicillin")]}
CONDVAR = [(dataset, method) for dataset in ("rail", "sleepstudy", "penicillin", "pastes")
           for method in ("ML", "REML")]


def _post_var(record: dict, term) -> np.ndarray:
    """lme4's postVar of one term as a (J, k, k) array, its levels checked against ours."""
    group = record["ranef"][term.group]
    assert list(group["levels"]) == list(term.levels)
    return np.array(group["postVar"]).reshape(len(term.levels), term.k, term.k)


@pytest.mark.parametrize("dataset, method", CONDVAR)
def test_conditional_covariances_are_lme4s(dataset, method):
    record = data.load_lme4_condvar_reference(dataset, method)
    frame = getattr(data, f"load_{dataset}")()
    design = _design(record["formula"], frame, None)
    at_lme4 = conditional_covariances(np.atleast_1d(record["theta"]), record["sigma"],
                                      design.gram)
    for term, stack in zip(design.terms, at_lme4):          # lme4's numbers at lme4's theta
        np.testing.assert_allclose(stack, _post_var(record, term), rtol=1e-10, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = fit(record["formula"], frame, reml=method == "REML").conditional_covariances()
    for term, stack in zip(design.terms, ours.values()):     # at our own optimum
        np.testing.assert_allclose(stack, _post_var(record, term), rtol=2e-3, atol=1e-8)


def _dense_blocks(theta, sigma, design):
    """The diagonal blocks of sigma^2 Lambda (L L')^-1 Lambda' (eq-ch12-condvar), densely."""
    L = solve_pls(theta, design).L
    half = linalg.solve_triangular(L, Lambda(theta, design.terms).toarray().T, lower=True)
    cov = sigma**2 * half.T @ half
    blocks, start = [], 0
    for term in design.terms:
        size = len(term.levels) * term.k
        piece = cov[start:start + size, start:start + size].reshape(len(term.levels), term.k,
                                                                    len(term.levels), term.k)
        blocks.append(piece[np.arange(len(term.levels)), :, np.arange(len(term.levels)), :])
        start += size
    return blocks


@pytest.mark.parametrize("seed", range(15))
def test_conditional_covariances_are_the_dense_formula(seed, monkeypatch):
    """On random models (crossed, nested, vector-valued, weighted), by the blocks and by the
    q x q inverse; the first term's blocks made a few levels at a time too."""
    rng = np.random.default_rng(200 + seed)
    formula, design = _random_design(rng)
    theta = np.maximum(_random_theta(design, rng), theta_lower(design.terms))
    expected = _dense_blocks(theta, 1.3, design)
    for entries in (random_effects.CHUNK_ENTRIES, 7):
        monkeypatch.setattr(random_effects, "CHUNK_ENTRIES", entries)
        for stack, dense in zip(conditional_covariances(theta, 1.3, design.gram), expected):
            np.testing.assert_allclose(stack, dense, rtol=1e-9, atol=1e-12, err_msg=formula)


@pytest.fixture(scope="module", params=PREDICT["cases"], ids=[c["name"] for c in
                                                              PREDICT["cases"]])
def predicted(request):
    record = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(record["formula"], CHANGES[record["data"]]())
    newdata = pd.DataFrame(record["newdata"])
    if "Days" in newdata:
        newdata["Days"] = newdata["Days"].astype(float)
    return result, record, newdata


def test_predictions_are_lme4s(predicted):
    result, record, newdata = predicted
    tolerance = dict(rtol=0, atol=1e-3)        # our optimum and lme4's differ by ~1e-6 in theta
    np.testing.assert_allclose(result.predict(), record["fitted"], **tolerance)
    np.testing.assert_allclose(result.predict(random=False), record["fixed"], **tolerance)
    np.testing.assert_allclose(result.predict(newdata), record["new"], **tolerance)
    np.testing.assert_allclose(result.predict(newdata, random=False), record["new_fixed"],
                               **tolerance)


def test_a_new_group_gets_the_population_prediction(predicted):
    result, _, newdata = predicted
    unseen = newdata.assign(**{t.group: "never-seen" for t in result.design.terms})
    np.testing.assert_allclose(result.predict(unseen), result.predict(unseen, random=False))


def test_fitted_and_residuals_add_up_to_y(predicted):
    result, _, _ = predicted
    y = result.design.y
    np.testing.assert_allclose(result.fitted() + result.residuals(), y, rtol=1e-12)
    np.testing.assert_allclose(result.residuals("marginal"), y - result.predict(random=False),
                               rtol=1e-12, atol=1e-10)
    with pytest.raises(ValueError, match="kind must be"):
        result.residuals("pearson")


@pytest.fixture(scope="module")
def interaction():
    return fit("Reaction ~ Days * arm + (1 | Subject)", CHANGES["sleep_groups"]())


def test_new_data_that_cannot_be_predicted_are_refused_by_name(interaction):
    good = pd.DataFrame({"Days": [1.0], "arm": ["A"], "Subject": ["308"]})
    assert np.isfinite(interaction.predict(good)).all()
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['arm'\]"):
        interaction.predict(good.drop(columns="arm"))
    with pytest.raises(ValueError, match=r"level\(s\) \['C'\] that the fit never saw"):
        interaction.predict(good.assign(arm="C"))
    with pytest.raises(ValueError, match=r"missing values in \['Days'\]"):
        interaction.predict(good.assign(Days=np.nan))
    with pytest.raises(ValueError, match="'Days' was numeric in the fit"):
        interaction.predict(good.assign(Days="one"))
    with pytest.raises(TypeError, match="newdata must be a pandas DataFrame"):
        interaction.predict({"Days": [1.0]})


def test_scale_and_poly_on_new_data_are_refused_by_name():
    result = fit("Reaction ~ scale(Days) + (1 | Subject)", data.load_sleepstudy())
    with pytest.raises(ValueError, match=r"cannot evaluate \['scale\(Days\)'\]"):
        result.predict(pd.DataFrame({"Days": [1.0], "Subject": ["308"]}))
    assert result.predict().shape == (180,)                  # the fitting rows: no problem
