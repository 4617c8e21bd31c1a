r"""Standard errors, Wald tests and confidence intervals for :math:`\hat\beta` (chapter 7).

:math:`\hat\beta = (X^\top V^{-1} X)^{-1} X^\top V^{-1} y` is linear in :math:`y \sim N(X\beta, V)`,
so it is normal with mean :math:`\beta` and covariance (equation ``eq-cov-beta``)

.. math::

    \operatorname{Var}(\hat\beta) = (X^\top V^{-1} X)^{-1}.

With :math:`V` evaluated at the estimated variances, this gives Wald :math:`z` statistics,
two-sided p-values and intervals. The standard errors are the square roots of the *diagonal*.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, stats

from lmm_teach._checks import as_matrix, as_vector, check_length, covariance_matrix
from lmm_teach.joint import cholesky_lower


def cov_beta(X: ArrayLike, V: ArrayLike) -> np.ndarray:
    r""":math:`\operatorname{Var}(\hat\beta) = (X^\top V^{-1} X)^{-1}` (equation ``eq-cov-beta``).

    Chapter 7, *Standard errors and tests*. Equal to the :math:`\beta` block of the inverse of
    Henderson's matrix (:func:`lmm_teach.henderson.cov_beta_mme`).
    """
    X = as_matrix(X, "X")
    L = cholesky_lower(covariance_matrix(V, "V", X.shape[0]), "V")
    X_white = linalg.solve_triangular(L, X, lower=True)
    information = cholesky_lower(X_white.T @ X_white, "X'V^-1 X")
    return linalg.cho_solve((information, True), np.eye(X.shape[1]))


def standard_errors(cov: ArrayLike) -> np.ndarray:
    r"""Standard errors :math:`\sqrt{\operatorname{Var}(\hat\beta)_{jj}}`: the root of the diagonal only.

    Chapter 7. (``np.sqrt(cov)`` would take the root of every entry; see the errata.)
    """
    variances = np.diag(covariance_matrix(cov, "cov", np.shape(cov)[0]))
    if np.any(variances <= 0):
        raise ValueError("cov has a non-positive variance on its diagonal")
    return np.sqrt(variances)


def wald_z(beta: ArrayLike, se: ArrayLike) -> np.ndarray:
    r"""Wald statistics :math:`z_j = \hat\beta_j / \operatorname{se}(\hat\beta_j)` for :math:`H_0: \beta_j = 0`.

    Chapter 7, *Standard errors and tests*.
    """
    beta, se = as_vector(beta, "beta"), as_vector(se, "se")
    check_length(se, beta.shape[0], "se", "beta")
    if np.any(se <= 0):
        raise ValueError("se must be positive")
    return beta / se


def two_sided_p_value(z: ArrayLike) -> np.ndarray:
    r"""Two-sided p-value :math:`P(|N(0,1)| \ge |z|) = 2\,\Phi(-|z|)` (equation ``eq-p-value``).

    Symmetric in the sign of :math:`z`, and computed with the survival function so that tiny
    p-values do not round to 0. Chapter 7, *Standard errors and tests*.
    """
    return 2.0 * stats.norm.sf(np.abs(as_vector(z, "z")))


def wald_interval(beta: ArrayLike, se: ArrayLike, level: float = 0.95) -> np.ndarray:
    r"""Wald intervals :math:`\hat\beta_j \pm z_{1-\alpha/2}\,\operatorname{se}_j`, one row each.

    Chapter 7, *Standard errors and tests*.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
    beta, se = as_vector(beta, "beta"), as_vector(se, "se")
    check_length(se, beta.shape[0], "se", "beta")
    half_width = stats.norm.ppf(0.5 + level / 2) * se
    return np.column_stack([beta - half_width, beta + half_width])


def wald_table(
    beta: ArrayLike, cov: ArrayLike, names: Sequence[str], level: float = 0.95
) -> pd.DataFrame:
    """The usual table of fixed effects: estimate, standard error, z, p-value and interval.

    Chapter 7, *Standard errors and tests*; checked against statsmodels ``MixedLM`` summaries.
    """
    beta = as_vector(beta, "beta")
    if len(names) != beta.shape[0]:
        raise ValueError(f"names has {len(names)} entries, but beta has {beta.shape[0]}")
    se = standard_errors(cov)
    z = wald_z(beta, se)
    low, high = wald_interval(beta, se, level).T
    columns = {"estimate": beta, "se": se, "z": z, "p": two_sided_p_value(z),
               f"[{(1 - level) / 2:g}": low, f"{(1 + level) / 2:g}]": high}
    return pd.DataFrame(columns, index=pd.Index(list(names), name="term"))
