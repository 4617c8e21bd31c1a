"""Inference for fixed effects (lmm_teach.fixed_inference): Wald and Satterthwaite tables
against lmerTest 3.1-3, and the identities behind them.

References: the package's lmertest_satterthwaite_reference.json (sleepstudy and Penicillin by
REML; R call in lmm_teach/data/PROVENANCE.md) and tests/reference/lmertest_extra.json (made by
tests/reference/lmertest_extra.R: an interaction with a between-subject factor, Pastes' nested
factors, and sleepstudy by ML).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lmm_teach import data, fit
from lmm_teach.pls import profiled_deviance
from lmm_teach.fixed_inference import cov_beta_gamma, deviance_gamma, hessian_gamma
from test_lmer_extra import CHANGES

EXTRA = json.loads((Path(__file__).parent / "reference" / "lmertest_extra.json").read_text())


def _cases():
    """(name, formula, data, reml, lmerTest's record) for every reference."""
    cases = []
    for dataset in ("sleepstudy", "penicillin"):
        record = data.load_lmertest_reference(dataset)
        cases.append((dataset, record["formula"], getattr(data, f"load_{dataset}")(), True,
                      record))
    for record in EXTRA["cases"]:
        frame = CHANGES[record["data"]]() if record["data"] in CHANGES else getattr(
            data, f"load_{record['data']}")()
        cases.append((record["name"], record["formula"], frame, record["reml"], record))
    return cases


CASES = _cases()


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def case(request):
    name, formula, frame, reml, record = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(formula, frame, reml=reml), record


def test_satterthwaite_matches_lmertest(case):
    result, record = case
    table = result.coef_table("satterthwaite")
    assert len(table) == len(np.atleast_1d(record["rows"]))
    np.testing.assert_allclose(table["estimate"], record["estimate"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(table["se"], record["se"], rtol=1e-4)
    np.testing.assert_allclose(table["df"], record["df"], rtol=1e-2)    # the issue: 1%
    np.testing.assert_allclose(table["t"], record["t"], rtol=1e-4)
    np.testing.assert_allclose(table["p"], record["p"], rtol=2e-2)


def test_the_wald_table_refers_t_to_the_normal(case):
    result, _ = case
    table = result.coef_table()
    assert np.all(np.isinf(table["df"]))
    np.testing.assert_allclose(table["p"], 2 * stats.norm.sf(np.abs(table["t"])))
    pd.testing.assert_index_equal(table.index, result.beta.index)
    np.testing.assert_allclose(table["se"], result.se_beta)


def test_deviance_gamma_at_sigma_hat_is_the_profiled_deviance(case):
    result, _ = case
    gamma = np.append(result.theta, result.sigma)
    profiled = profiled_deviance(result.theta, result.design, result.reml)
    assert deviance_gamma(gamma, result.design, result.reml) == pytest.approx(profiled,
                                                                               abs=1e-7)
    # and sigma_hat minimizes it: the derivative in sigma is 0 there
    h = 1e-5 * result.sigma
    up, down = (deviance_gamma(np.append(result.theta, result.sigma + s), result.design,
                               result.reml) for s in (h, -h))
    assert (up - down) / (2 * h) == pytest.approx(0.0, abs=1e-4)


def test_cov_beta_gamma_at_the_estimates_is_the_fits(case):
    result, _ = case
    gamma = np.append(result.theta, result.sigma)
    np.testing.assert_allclose(cov_beta_gamma(gamma, result.design), result.cov_beta,
                               rtol=1e-8)


def test_the_hessian_is_symmetric_and_positive_definite_at_the_optimum(case):
    result, _ = case
    H = hessian_gamma(np.append(result.theta, result.sigma), result.design, result.reml)
    np.testing.assert_allclose(H, H.T)
    assert np.all(np.linalg.eigvalsh(H) > 0)


def test_a_singular_hessian_is_a_clear_error(monkeypatch):
    import lmm_teach.fixed_inference as fixed_inference
    result = fit("Reaction ~ Days + (Days | Subject)", data.load_sleepstudy())
    monkeypatch.setattr(fixed_inference, "hessian_gamma", lambda *args: np.zeros((4, 4)))
    with pytest.raises(ValueError, match="Hessian .* is singular"):
        result.coef_table("satterthwaite")


def test_an_unknown_ddf_is_refused_by_name():
    result = fit("Reaction ~ Days + (Days | Subject)", data.load_sleepstudy())
    with pytest.raises(ValueError, match="ddf must be one of"):
        result.coef_table("kenward-roger")


@pytest.mark.parametrize("dataset", ["sleepstudy", "penicillin", "pastes"])
def test_wald_intervals_match_lme4(dataset):
    """lme4's confint(fit, method = "Wald") on ML fits (the package's
    lme4_confint_reference.json; R call in its r_call)."""
    record = data.load_lme4_confint_reference(dataset)
    result = fit(record["formula"], getattr(data, f"load_{dataset}")(), reml=False)
    table = result.confint("wald")
    assert list(table.index) == record["rows"]                    # lme4's names and order
    wald = table.loc[np.atleast_1d(record["wald_rows"])]
    tolerance = 0.02 * result.se_beta.to_numpy()                  # the issue: 2% of an se
    for bound in ("lower", "upper"):
        error = np.abs(wald[bound].to_numpy() - np.atleast_1d(record[f"wald_{bound}"]))
        assert np.all(error <= tolerance), (bound, error, tolerance)
    n_variance = len(record["rows"]) - len(result.beta)
    assert table.iloc[:n_variance].isna().all().all()           # lme4 leaves them NA


def test_intervals_name_a_second_term_on_a_factor_as_lme4_does():
    result = fit("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
                 data.load_sleepstudy())
    assert list(result.confint().index) == ["sd_(Intercept)|Subject", "sd_Days|Subject.1",
                                            "sigma", "(Intercept)", "Days"]


def test_a_wider_level_gives_a_wider_interval_and_bad_arguments_are_refused():
    result = fit("Reaction ~ Days + (Days | Subject)", data.load_sleepstudy())
    narrow, wide = result.confint(level=0.9), result.confint(level=0.99)
    assert np.all(wide.loc["Days", "lower"] < narrow.loc["Days", "lower"])
    with pytest.raises(ValueError, match="method must be one of"):
        result.confint("mcmc")
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        result.confint(level=95)
