"""Chapter 13: the one-sided slope of the profiled deviance at theta = 0 (boundary_slope)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lmm_teach.data import load_dyestuff, load_dyestuff2, load_sleepstudy
from lmm_teach.design import model_matrices
from lmm_teach.optimizer import boundary_slope
from lmm_teach.pls import profiled_deviance

CASES = [
    (load_dyestuff2, "Yield ~ 1 + (1 | Batch)"),
    (load_dyestuff, "Yield ~ 1 + (1 | Batch)"),
    (load_sleepstudy, "Reaction ~ Days + (1 | Subject)"),
    (load_sleepstudy, "Reaction ~ Days + (0 + Days | Subject)"),   # a scalar slope term
]


@pytest.mark.parametrize("loader, formula", CASES)
@pytest.mark.parametrize("reml", [False, True])
def test_boundary_slope_matches_finite_differences_in_theta_squared(loader, formula, reml):
    design = model_matrices(formula, loader())
    tau = 1e-7   # d(sqrt(tau)) - d(0) = slope * tau + O(tau^2)
    numeric = (profiled_deviance([np.sqrt(tau)], design, reml) - profiled_deviance([0.0], design, reml)) / tau
    np.testing.assert_allclose(boundary_slope(design, reml), numeric, rtol=1e-4, atol=1e-4)


def test_sign_follows_the_balanced_one_way_anova_conditions():
    # Balanced one-way: ML is at 0 iff SSB/a <= SSW/(N - a); REML iff MSB <= MSW.
    for loader in (load_dyestuff, load_dyestuff2):
        frame = loader()
        design = model_matrices("Yield ~ 1 + (1 | Batch)", frame)
        means = frame.groupby("Batch")["Yield"].transform("mean")
        a, N = frame["Batch"].nunique(), len(frame)
        ssb = float(np.sum((means - frame["Yield"].mean()) ** 2))
        ssw = float(np.sum((frame["Yield"] - means) ** 2))
        assert (boundary_slope(design, False) > 0) == (ssb / a <= ssw / (N - a))
        assert (boundary_slope(design, True) > 0) == (ssb / (a - 1) <= ssw / (N - a))
    assert boundary_slope(model_matrices("Yield ~ 1 + (1 | Batch)", load_dyestuff2()), False) > 0


def test_bad_designs_are_refused():
    with pytest.raises(ValueError, match="exactly one random term with one column"):
        boundary_slope(model_matrices("Reaction ~ Days + (Days | Subject)", load_sleepstudy()), False)
    exact = pd.DataFrame({"y": [1.0, 1.0, 1.0, 1.0], "g": ["a", "a", "b", "b"]})
    with pytest.raises(ValueError, match="fit the response 'y' exactly"):
        model_matrices("y ~ 1 + (1 | g)", exact)              # refused before boundary_slope sees it
    design = model_matrices("Yield ~ 1 + (1 | Batch)", load_dyestuff2())
    with pytest.raises(ValueError, match="fitted exactly"):
        boundary_slope(dataclasses.replace(design, y=np.ones_like(design.y)), False)
