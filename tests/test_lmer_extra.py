"""The general engine on models and data it was not built around, against lme4 1.1-31.

The reference numbers in tests/reference/lme4_extra.json were made by
tests/reference/lme4_extra.R (``lmer(<formula>, data = <data>, REML = FALSE/TRUE)`` for each case;
the R call is in each case's ``r_call``). They cover unbalanced groups, integer-coded factors,
categorical fixed effects and their interactions, a fixed factor that is also part of a grouping
factor, no intercept, uncorrelated terms and a 3 x 3 random-effects term.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmm_teach import fit
from lmm_teach.data import load_cbpp, load_dyestuff, load_pastes, load_penicillin, load_sleepstudy
from lmm_teach.optimizer import SingularFitWarning

REFERENCE = json.loads((Path(__file__).parent / "reference" / "lme4_extra.json").read_text())


def _sleep_groups() -> pd.DataFrame:
    sleep = load_sleepstudy()
    position = pd.Categorical(sleep.Subject).codes + 1          # R's as.integer(factor)
    return sleep.assign(arm=np.where(position <= 9, "A", "B"), Days2=sleep.Days**2)


# The same changes as in lme4_extra.R, by the name the JSON gives the data.
CHANGES = {
    "sleepstudy": load_sleepstudy,
    "unbalanced": lambda: load_sleepstudy().iloc[[i for i in range(180) if i % 7 != 3]],
    "sleep_int": lambda: load_sleepstudy().assign(Subject=lambda d: d.Subject.astype(int)),
    "sleep_groups": _sleep_groups,
    "dyestuff_int": lambda: load_dyestuff().assign(Batch=lambda d: pd.Categorical(d.Batch).codes + 1),
    "cbpp": load_cbpp,
    "pastes": load_pastes,
    "penicillin": load_penicillin,
}
CASES = [(case, method) for case in REFERENCE["cases"] for method in ("ML", "REML")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{c['name']}-{m}" for c, m in CASES])
def fitted(request):
    case, method = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        result = fit(case["formula"], CHANGES[case["data"]](), reml=method == "REML")
    return result, case[method]


def test_loglik(fitted):
    result, lme4 = fitted
    if lme4["lme4_messages"]:
        # lme4 reported that it did not converge (max|grad| above its tolerance); the fit
        # here must then be at least as good, and close.
        assert result.loglik >= lme4["loglik"] - 1e-6
        np.testing.assert_allclose(result.loglik, lme4["loglik"], atol=1e-2)
    else:
        np.testing.assert_allclose(result.loglik, lme4["loglik"], atol=1e-4)


def test_fixed_effects_and_standard_errors(fitted):
    result, lme4 = fitted
    lme4_beta, lme4_se = np.array(list(lme4["fixef"].values())), np.array(lme4["se"], ndmin=1)
    assert len(result.beta) == len(lme4_beta)        # names differ (period[T.2] / period2): compare by order
    fraction = 0.05 if lme4["lme4_messages"] else 1e-3
    np.testing.assert_array_less(np.abs(result.beta.to_numpy() - lme4_beta), fraction * lme4_se)
    np.testing.assert_allclose(result.se_beta.to_numpy(), lme4_se, rtol=10 * fraction)


def test_sigma_and_varcorr(fitted):
    result, lme4 = fitted
    rtol = 1e-2 if lme4["lme4_messages"] else 1e-4
    np.testing.assert_allclose(result.sigma, lme4["sigma"], rtol=rtol)
    reference = pd.DataFrame(lme4["varcorr"])
    assert list(result.varcorr.var1) == list(reference.var1)
    np.testing.assert_allclose(result.varcorr.sdcor, reference.sdcor, rtol=100 * rtol, atol=1e-3)
    assert result.nobs == lme4["nobs"]
    assert sorted(result.ngroups.values()) == sorted(lme4["ngrps"].values())
