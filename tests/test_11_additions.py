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


def test_shrinkage_matrix_of_chapter_11():
    # Chapter 11, "What random slopes do": beta + b_j = beta + M (beta_j - beta), with
    # M = Sigma (Sigma + sigma^2 (X_j'X_j)^-1)^-1, and Sigma^-1/2 M Sigma^1/2 symmetric with
    # eigenvalues in (0, 1). An identity at any theta, so we use lme4's ML estimates
    # (lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE)).
    from scipy import linalg

    from lmm_teach.data import load_lme4_reference
    from lmm_teach.pls import solve_pls, term_factor

    sleep = load_sleepstudy()
    design = model_matrices("Reaction ~ Days + (Days | Subject)", sleep)
    ref = load_lme4_reference("sleepstudy", "ML")
    theta, sigma = np.array(ref["theta"]), ref["sigma"]
    solution = solve_pls(theta, design)
    Sigma = sigma**2 * term_factor(theta, 2) @ term_factor(theta, 2).T
    X_j = np.column_stack([np.ones(10), np.arange(10)])
    M = Sigma @ np.linalg.inv(Sigma + sigma**2 * np.linalg.inv(X_j.T @ X_j))
    own = np.array([np.polyfit(g.Days, g.Reaction, 1)[::-1] for _, g in sleep.groupby("Subject")])
    mixed = solution.beta + solution.b.reshape(18, 2)
    np.testing.assert_allclose(mixed, solution.beta + (own - solution.beta) @ M.T, rtol=1e-9)
    root = linalg.sqrtm(Sigma).real
    similar = np.linalg.solve(root, M @ root)
    np.testing.assert_allclose(similar, similar.T, rtol=1e-8, atol=1e-12)
    eigenvalues = np.linalg.eigvalsh((similar + similar.T) / 2)
    assert 0 < eigenvalues[0] <= eigenvalues[1] < 1
