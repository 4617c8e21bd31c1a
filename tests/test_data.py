"""The shipped data sets and lme4 reference fits load without a network (chapter 2)."""

import pandas as pd
import pytest

from lmm_teach import data

SHAPES = [
    (data.load_rail, (18, 2), "Rail", 6),
    (data.load_dyestuff, (30, 2), "Batch", 6),
    (data.load_dyestuff2, (30, 2), "Batch", 6),
    (data.load_sleepstudy, (180, 3), "Subject", 18),
    (data.load_penicillin, (144, 3), "plate", 24),
    (data.load_pastes, (60, 4), "sample", 30),
    (data.load_cbpp, (56, 4), "herd", 15),
    (data.load_loblolly, (84, 3), "Seed", 14),
    (data.load_star, (26796, 18), "tch", 1387),
]


@pytest.mark.parametrize("loader, shape, group, levels", SHAPES)
def test_loaders_return_frames_with_text_groups(loader, shape, group, levels):
    frame = loader()
    assert isinstance(frame, pd.DataFrame)
    assert frame.shape == shape
    assert frame[group].map(type).eq(str).all(), f"{group} should be read as text"
    assert frame[group].nunique() == levels


def test_rail_values():
    rail = data.load_rail()
    # Pinheiro & Bates (2000), table 1.1: rail 1 has travel times 55, 53, 54.
    assert rail.loc[rail.Rail == "1", "travel"].tolist() == [55, 53, 54]
    assert rail.travel.sum() == 1197


def test_lme4_reference_record():
    record = data.load_lme4_reference("rail", "ML")
    assert record["formula"] == "travel ~ 1 + (1|Rail)"
    assert record["nobs"] == 18
    assert record["loglik"] == pytest.approx(-64.2800184692174)


@pytest.mark.parametrize("dataset, method, message", [
    ("rails", "ML", "lme4_reference.json has no dataset 'rails'"),
    ("rail", "ml", "method must be 'ML' or 'REML'"),
])
def test_lme4_reference_bad_names(dataset, method, message):
    with pytest.raises(ValueError, match=message):
        data.load_lme4_reference(dataset, method)


def test_other_reference_files():
    # lmerTest: summary(lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = TRUE))
    assert data.load_lmertest_reference("sleepstudy")["df"][1] == pytest.approx(16.9999837255917)
    assert data.load_lme4_confint_reference("pastes")["fit"] == "ML"
    with pytest.raises(ValueError, match="has no dataset 'rail'"):
        data.load_lmertest_reference("rail")


@pytest.mark.parametrize("dataset", ["rail", "sleepstudy", "penicillin", "pastes"])
@pytest.mark.parametrize("method", ["ML", "REML"])
def test_condvar_reference_matches_sigma2_Lambda_Linv(dataset, method):
    """lme4's postVar is sigma^2 Lambda (L L')^{-1} Lambda' per level, at lme4's theta.

    R: attr(ranef(lmer(<formula>, data, REML = <method == "REML">), condVar = TRUE)[[g]],
    "postVar") (lmm_teach/data/lme4_condvar.R).
    """
    import numpy as np

    from lmm_teach.design import model_matrices
    from lmm_teach.pls import Lambda, solve_pls

    record = data.load_lme4_condvar_reference(dataset, method)
    design = model_matrices(record["formula"], getattr(data, f"load_{dataset}")())
    solution = solve_pls(record["theta"], design)
    Lam = Lambda(record["theta"], design.terms).toarray()
    L_inv_T = np.linalg.solve(solution.L, Lam.T)
    cond_cov = record["sigma"] ** 2 * L_inv_T.T @ L_inv_T
    start = 0
    for term in design.terms:
        reference = record["ranef"][term.group]
        assert list(reference["levels"]) == list(term.levels)
        for j, expected in enumerate(reference["postVar"]):
            block = slice(start + j * term.k, start + (j + 1) * term.k)
            np.testing.assert_allclose(cond_cov[block, block], expected, rtol=1e-6)
        np.testing.assert_allclose(solution.b[start:start + len(term.levels) * term.k],
                                   np.ravel(reference["modes"]), rtol=1e-6, atol=1e-8)
        start += len(term.levels) * term.k


def test_condvar_reference_bad_names():
    with pytest.raises(ValueError, match="has no dataset 'dyestuff'"):
        data.load_lme4_condvar_reference("dyestuff", "ML")
    with pytest.raises(ValueError, match="method must be 'ML' or 'REML'"):
        data.load_lme4_condvar_reference("rail", "reml")


def test_formula_reference_records():
    # lmer(Reaction ~ Days + I(Days^2) + (Days | Subject), data = sleepstudy, REML = TRUE)
    record = data.load_lme4_formula_reference("power", "REML")
    assert record["X_columns"] == ["(Intercept)", "Days", "I(Days^2)"]
    assert record["loglik"] == pytest.approx(-871.407799848301)
    assert data.load_lme4_formula_reference("weights", "ML")["weights"] == "size"
    with pytest.raises(ValueError, match="has no model 'cubic'"):
        data.load_lme4_formula_reference("cubic", "ML")
    with pytest.raises(ValueError, match="method must be 'ML' or 'REML'"):
        data.load_lme4_formula_reference("power", "ml")


def test_prediction_reference_and_its_bad_names():
    record = data.load_lme4_predict_reference("penicillin")
    assert len(record["fitted"]) == 144 and record["newdata"]["plate"][1] == "z"
    with pytest.raises(ValueError, match="has no case 'rail'"):
        data.load_lme4_predict_reference("rail")


def test_star_keeps_its_missing_values():
    """mlmRev's counts of NA by column (summary(star) in R): nothing filled in or dropped."""
    missing = data.load_star().isna().sum()
    assert missing[missing > 0].to_dict() == {
        "hdeg": 167, "clad": 809, "exp": 193, "trace": 227, "read": 2534, "math": 2183,
        "ses": 828, "sx": 20, "eth": 146, "birthy": 73}
