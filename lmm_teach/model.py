r"""The model and its matrices (chapter 2, *The model and the data*).

The linear mixed model of the book is

.. math::

    y = X\beta + Zb + \varepsilon, \qquad
    b \sim N(0, \psi), \qquad
    \varepsilon \sim N(0, \sigma^2 I_n),

with :math:`b` and :math:`\varepsilon` independent. This module turns a data frame into
:math:`y`, :math:`X` and :math:`Z` for a model with one random intercept per group, and states
the marginal distribution :math:`y \sim N(X\beta, V)` with :math:`V = Z\psi Z^\top +
\sigma^2 I_n` (equation ``eq-marginal``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from lmm_teach._checks import (
    as_matrix,
    as_vector,
    check_length,
    covariance_matrix,
    positive_scalar,
    read_only_copies,
)


@dataclass(frozen=True)
class ModelMatrices:
    """The response and the two model matrices of a random-intercept model.

    Attributes
    ----------
    y : (n,) response.
    X : (n, p) fixed-effects model matrix; its columns are named by ``fixed_names``.
    Z : (n, q) random-effects model matrix; column ``j`` indicates group ``group_levels[j]``.
    """

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    fixed_names: tuple[str, ...]
    group_levels: tuple[str, ...]
    response: str
    group: str

    def __post_init__(self) -> None:
        read_only_copies(self)


def indicator_matrix(groups: ArrayLike) -> tuple[np.ndarray, tuple[str, ...]]:
    r"""Indicator matrix of a grouping factor: :math:`Z_{ij} = 1` when row ``i`` is in group ``j``.

    Levels are sorted as pandas sorts a categorical (numbers numerically, text alphabetically).
    Chapter 2, *The model and the data*.
    """
    factor = pd.Categorical(np.asarray(groups))
    Z = np.zeros((len(factor), len(factor.categories)))
    Z[np.arange(len(factor)), factor.codes] = 1.0
    return Z, tuple(str(level) for level in factor.categories)


def _check_columns(data: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise if ``data`` is not a DataFrame or lacks one of ``columns``."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("data has no rows")
    for column in columns:
        if column not in data.columns:
            raise ValueError(f"column {column!r} is not in the data; it has {list(data.columns)}")


def _numeric_column(data: pd.DataFrame, column: str) -> np.ndarray:
    """Column ``column`` as floats, or a ValueError naming it if it is not numeric or not finite."""
    if not pd.api.types.is_numeric_dtype(data[column]) or pd.api.types.is_bool_dtype(data[column]):
        raise ValueError(f"column {column!r} must be numeric, but its dtype is {data[column].dtype}")
    values = data[column].to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        count = int(np.sum(~np.isfinite(values)))
        raise ValueError(f"column {column!r} has {count} missing or infinite value(s)")
    return values


def _grouping_column(data: pd.DataFrame, column: str) -> np.ndarray:
    """Column ``column`` as a factor's values, or a ValueError if it cannot group the rows."""
    if data[column].isna().any():
        raise ValueError(f"grouping column {column!r} has {int(data[column].isna().sum())} missing value(s)")
    levels = data[column].nunique()
    if levels < 2:
        raise ValueError(f"grouping column {column!r} has {levels} level; a random effect needs at least 2")
    if levels == len(data):
        raise ValueError(
            f"grouping column {column!r} has as many levels as observations ({levels}), "
            "so its variance cannot be told apart from the residual variance"
        )
    return data[column].to_numpy()


def random_intercept_matrices(
    data: pd.DataFrame, response: str, group: str, covariates: Sequence[str] = ()
) -> ModelMatrices:
    r"""Build :math:`y`, :math:`X = [1, \text{covariates}]` and :math:`Z` for ``(1 | group)``.

    Chapter 2, *The model and the data*. In lme4's syntax the model is
    ``response ~ 1 + covariates + (1 | group)``.
    """
    if isinstance(covariates, str):
        raise TypeError(f"covariates must be a list of column names, such as [{covariates!r}]")
    _check_columns(data, [response, group, *covariates])
    y = _numeric_column(data, response)
    if np.ptp(y) == 0:
        raise ValueError(f"column {response!r} is constant: there is no variation to split into components")
    X = np.column_stack([np.ones(len(data))] + [_numeric_column(data, c) for c in covariates])
    Z, levels = indicator_matrix(_grouping_column(data, group))
    return ModelMatrices(y, X, Z, ("(Intercept)", *covariates), levels, response, group)


def random_intercept_psi(sigma2_b: float, q: int) -> np.ndarray:
    r"""Covariance of independent random intercepts, :math:`\psi = \sigma_b^2 I_q`.

    Chapter 2, *The model and the data*.
    """
    return positive_scalar(sigma2_b, "sigma2_b") * np.eye(q)


def marginal_covariance(Z: ArrayLike, psi: ArrayLike, sigma2: float) -> np.ndarray:
    r"""Marginal covariance of :math:`y` (equation ``eq-marginal``, chapter 2).

    .. math::

        V = \operatorname{Var}(y) = Z \psi Z^\top + \sigma^2 I_n
    """
    Z = as_matrix(Z, "Z")
    psi = covariance_matrix(psi, "psi", Z.shape[1])
    sigma2 = positive_scalar(sigma2, "sigma2")
    return Z @ psi @ Z.T + sigma2 * np.eye(Z.shape[0])


def simulate_y(
    X: ArrayLike,
    Z: ArrayLike,
    beta: ArrayLike,
    psi: ArrayLike,
    sigma2: float,
    n_draws: int,
    rng: np.random.Generator,
) -> np.ndarray:
    r"""Draw ``n_draws`` response vectors from the model, one per row.

    Each draw takes :math:`b \sim N(0, \psi)` and :math:`\varepsilon \sim N(0,
    \sigma^2 I_n)` and returns :math:`X\beta + Zb + \varepsilon`. Chapter 2, *The model and the data*.
    """
    X, Z = as_matrix(X, "X"), as_matrix(Z, "Z", rows=np.shape(X)[0], rows_of="X")
    beta = as_vector(beta, "beta")
    check_length(beta, X.shape[1], "beta", "X")
    psi = covariance_matrix(psi, "psi", Z.shape[1])
    b = rng.multivariate_normal(np.zeros(Z.shape[1]), psi, size=n_draws)
    epsilon = rng.normal(0.0, np.sqrt(positive_scalar(sigma2, "sigma2")), size=(n_draws, X.shape[0]))
    return X @ beta + b @ Z.T + epsilon
