"""Fixtures shared by the unit tests: the model matrices of the book's running examples."""

import numpy as np
import pytest

from lmm_teach.data import load_rail, load_sleepstudy
from lmm_teach.model import ModelMatrices, random_intercept_matrices, random_intercept_psi


@pytest.fixture(scope="session")
def rail() -> ModelMatrices:
    """travel ~ 1 + (1 | Rail): 18 observations, 6 rails."""
    return random_intercept_matrices(load_rail(), "travel", "Rail")


@pytest.fixture(scope="session")
def sleep() -> ModelMatrices:
    """Reaction ~ 1 + Days + (1 | Subject): 180 observations, 18 subjects, two fixed effects."""
    return random_intercept_matrices(load_sleepstudy(), "Reaction", "Subject", ["Days"])


@pytest.fixture(scope="session")
def rail_point(rail):
    """A point (beta, psi, sigma2) near Rail's ML estimates, away from the optimum on purpose."""
    return np.array([60.0]), random_intercept_psi(450.0, rail.Z.shape[1]), 20.0


@pytest.fixture(scope="session")
def sleep_point(sleep):
    """A point (beta, psi, sigma2) for sleepstudy with two fixed effects."""
    return np.array([250.0, 10.0]), random_intercept_psi(1300.0, sleep.Z.shape[1]), 950.0
