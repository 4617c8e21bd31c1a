r"""Restricted maximum likelihood, REML (chapter 9, *REML*).

Maximum likelihood estimates the variances as if :math:`\beta` were known, and so underestimates
them. REML integrates :math:`\beta` out of the likelihood with a flat prior, exactly as chapter 4
integrated :math:`b` out. The log-likelihood :math:`\ell(\beta, \sigma_b^2, \sigma^2)` is quadratic
in :math:`\beta` with Hessian :math:`-X^\top V^{-1} X` and maximizer :math:`\hat\beta(\phi)`
(generalized least squares), so the Gaussian integral gives the restricted log-likelihood
(equation ``eq-reml``; Harville 1977), a function of the log-variances
:math:`\phi = (\log\sigma_b^2, \log\sigma^2)` of chapter 6:

.. math::

    \ell_R(\phi) = \log \int f(y \mid \beta, \sigma_b^2, \sigma^2)\,d\beta
    = \ell_p(\phi) + \frac{p}{2}\log(2\pi) - \frac12 \log|X^\top V^{-1} X|.

Equivalently, :math:`\ell_R` is the log-likelihood of :math:`n - p` *error contrasts*
:math:`K^\top y` with :math:`K^\top X = 0`, up to a constant that depends on :math:`X` only.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from lmm_teach._checks import as_matrix, as_vector, covariance_matrix
from lmm_teach.henderson import _rank_checked, cov_beta_mme, gls_beta
from lmm_teach.inference import cov_beta
from lmm_teach.joint import cholesky_lower, gaussian_log_density
from lmm_teach.ml import profile_log_likelihood, variances_from_phi
from lmm_teach.model import random_intercept_psi


def _log_det(matrix: np.ndarray, name: str) -> float:
    """log|matrix| of a positive definite matrix, as twice the sum of log diag of its Cholesky factor."""
    return float(2.0 * np.sum(np.log(np.diag(cholesky_lower(matrix, name)))))


def restricted_log_likelihood(phi: ArrayLike, X: ArrayLike, Z: ArrayLike, y: ArrayLike) -> float:
    r"""The restricted log-likelihood :math:`\ell_R(\phi)` of equation ``eq-reml``.

    .. math::

        \ell_R(\phi) = \ell_p(\phi) + \frac{p}{2}\log(2\pi)
            + \frac12 \log\bigl|[C^{-1}]_{\beta\beta}\bigr|,
        \qquad [C^{-1}]_{\beta\beta} = (X^\top V^{-1} X)^{-1}

    for the random-intercept model with :math:`\phi = (\log\sigma_b^2, \log\sigma^2)` as in
    chapter 6. :math:`\ell_p` is :func:`lmm_teach.ml.profile_log_likelihood` and the covariance of
    :math:`\hat\beta` is the :math:`\beta` block of Henderson's :math:`C^{-1}`
    (:func:`lmm_teach.henderson.cov_beta_mme`). Chapter 9, *REML*. Validated against lme4 1.1-31
    ``logLik(lmer(travel ~ 1 + (1 | Rail), REML = TRUE))`` and statsmodels ``MixedLM.fit(reml=True)``.
    """
    y = as_vector(y, "y")
    X, Z = as_matrix(X, "X", rows=y.shape[0]), as_matrix(Z, "Z", rows=y.shape[0])
    sigma2_b, sigma2 = variances_from_phi(phi)
    cov = cov_beta_mme(X, Z, random_intercept_psi(sigma2_b, Z.shape[1]), sigma2)
    reml_term = 0.5 * X.shape[1] * np.log(2 * np.pi) + 0.5 * _log_det(cov, "Var(beta_hat)")
    return profile_log_likelihood(phi, X, Z, y) + reml_term


def restricted_log_density(y: ArrayLike, X: ArrayLike, V: ArrayLike) -> float:
    r""":math:`\ell_R` straight from :math:`y \sim N(X\beta, V)`, in Harville's form (``eq-reml``).

    .. math::

        \ell_R = -\frac12\Bigl[(n - p)\log(2\pi) + \log|V| + \log|X^\top V^{-1} X|
            + (y - X\hat\beta)^\top V^{-1} (y - X\hat\beta)\Bigr],
        \qquad \hat\beta = (X^\top V^{-1} X)^{-1} X^\top V^{-1} y

    Works for any covariance :math:`V`, e.g. :math:`\sigma^2 I_n` for linear regression. The
    :math:`n \times n` matrix :math:`V` is factored directly: the reference for
    :func:`restricted_log_likelihood`. Chapter 9, *REML*.
    """
    y = as_vector(y, "y")
    X = _rank_checked(as_matrix(X, "X", rows=y.shape[0]))
    V = covariance_matrix(V, "V", y.shape[0])
    l_p = gaussian_log_density(y, X @ gls_beta(y, X, V), V, name="V")  # log f(y | beta_hat, V)
    return l_p + 0.5 * X.shape[1] * np.log(2 * np.pi) + 0.5 * _log_det(cov_beta(X, V), "Var(beta_hat)")


def error_contrasts(X: ArrayLike) -> np.ndarray:
    r"""An orthonormal basis :math:`K` (:math:`n \times (n - p)`) of the null space of :math:`X^\top`.

    .. math::

        K^\top X = 0, \qquad K^\top K = I_{n-p}

    The :math:`n - p` *error contrasts* :math:`K^\top y \sim N(0, K^\top V K)` do not depend on
    :math:`\beta`. Computed from the full QR decomposition of :math:`X`. Chapter 9, *REML*.
    """
    X = _rank_checked(as_matrix(X, "X"))
    n, p = X.shape
    if n <= p:
        raise ValueError(f"X has {n} rows and {p} columns; error contrasts need more rows than columns")
    Q, _ = linalg.qr(X, mode="full")
    return Q[:, p:]


def error_contrast_log_density(y: ArrayLike, X: ArrayLike, V: ArrayLike) -> float:
    r"""Log-density of the error contrasts :math:`K^\top y \sim N(0, K^\top V K)` (``eq-reml``).

    .. math::

        \log f(K^\top y) = \ell_R + \frac12 \log|X^\top X|
        \qquad \text{(for orthonormal } K\text{)}

    with :math:`K` from :func:`error_contrasts`. The REML likelihood of Patterson and Thompson
    (1971); ``eq-reml`` up to a constant that depends on :math:`X` only (``eq-ch9-contrasts``).
    Chapter 9, *REML*.
    """
    y = as_vector(y, "y")
    K = error_contrasts(as_matrix(X, "X", rows=y.shape[0]))
    V = covariance_matrix(V, "V", y.shape[0])
    return gaussian_log_density(K.T @ y, np.zeros(K.shape[1]), K.T @ V @ K, name="K'VK")
