"""Chapter 11 additions: the summary table of the random terms of a design."""

import numpy as np
import pytest

from lmm_teach.data import load_pastes, load_sleepstudy
from lmm_teach.design import model_matrices, term_summary
from lmm_teach.pls import theta_size, theta_start


def test_term_summary_correlated_slope():
    # lme4: lFormula(Reaction ~ Days + (Days | Subject), sleepstudy)$reTrms: 18 levels, 36 columns, 3 thetas
    design = model_matrices("Reaction ~ Days + (Days | Subject)", load_sleepstudy())
    table = term_summary(design)
    assert table.to_dict("records") == [dict(term="(Days | Subject)", group="Subject",
                                             effects="(Intercept), Days", levels=18, k=2,
                                             Z_columns=36, theta_size=3)]
    assert table.Z_columns.sum() == design.Z.shape[1]
    assert table.theta_size.sum() == theta_start(design.terms).size


def test_term_summary_uncorrelated_and_nested():
    sleep = model_matrices("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", load_sleepstudy())
    table = term_summary(sleep)
    assert list(table.term) == ["(1 | Subject)", "(0 + Days | Subject)"]
    assert list(table.effects) == ["(Intercept)", "Days"]
    np.testing.assert_array_equal(table.theta_size, [1, 1])
    # lme4: lFormula(strength ~ 1 + (1 | batch/cask), Pastes): cask:batch (30 levels) first, then batch (10)
    pastes = term_summary(model_matrices("strength ~ 1 + (1 | batch/cask)", load_pastes()))
    assert list(pastes.group) == ["cask:batch", "batch"]
    np.testing.assert_array_equal(pastes.levels, [30, 10])


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_theta_size_matches_lower_triangle(k):
    assert theta_size(k) == np.count_nonzero(np.tril(np.ones((k, k))))


def test_term_summary_rejects_other_input():
    with pytest.raises(ValueError, match="design must be a Design"):
        term_summary("Reaction ~ Days + (Days | Subject)")
