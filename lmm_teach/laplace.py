r"""Integrating the random effects out (chapter 4, *Integrating out b*).

The marginal density of :math:`y` is :math:`f(y) = \int f(y, b)\,db`. Expand
:math:`\log f(y, b)` to second order around its maximizer :math:`\hat b` (the conditional mode):
the gradient vanishes there, and the Hessian is :math:`-A` with

.. math::

    A = \frac{Z^\top Z}{\sigma^2} + \psi^{-1}.

Because :math:`\log f(y, b)` is quadratic in :math:`b`, the expansion is exact, and the Gaussian
integral gives (equation ``eq-laplace``)

.. math::

    \log f(y) = \log f(y, \hat b) + \frac{q}{2}\log(2\pi) - \frac12 \log|A|.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate, linalg

from lmm_teach._checks import as_matrix, as_vector, covariance_matrix, positive_scalar
from lmm_teach.joint import cholesky_lower, gaussian_log_density, log_joint_density, residual
from lmm_teach.model import marginal_covariance


def psi_inverse(psi: ArrayLike) -> np.ndarray:
    r""":math:`\psi^{-1}` through the Cholesky factor of :math:`\psi`. Chapter 4."""
    psi = np.asarray(psi, dtype=float)
    L = cholesky_lower(psi, "psi")
    return linalg.cho_solve((L, True), np.eye(psi.shape[0]))


def conditional_precision_b(Z: ArrayLike, psi: ArrayLike, sigma2: float) -> np.ndarray:
    r"""Minus the Hessian of :math:`\log f(y, b)` in :math:`b` (equation ``eq-hessian``).

    .. math::

        A = -\frac{\partial^2 \log f(y, b)}{\partial b\,\partial b^\top}
          = \frac{Z^\top Z}{\sigma^2} + \psi^{-1}

    It does not depend on :math:`b`, :math:`y` or :math:`\beta`. Chapter 4, *Integrating out b*.
    """
    Z = as_matrix(Z, "Z")
    psi = covariance_matrix(psi, "psi", Z.shape[1])
    return Z.T @ Z / positive_scalar(sigma2, "sigma2") + psi_inverse(psi)


def gradient_b(
    y: ArrayLike, b: ArrayLike, X: ArrayLike, Z: ArrayLike, beta: ArrayLike, psi: ArrayLike, sigma2: float
) -> np.ndarray:
    r"""Gradient of :math:`\log f(y, b)` in :math:`b` (equation ``eq-gradient``).

    .. math::

        \frac{\partial \log f(y, b)}{\partial b} = \frac{Z^\top (y - X\beta - Zb)}{\sigma^2} - \psi^{-1} b

    Chapter 4, *Integrating out b*; checked against finite differences.
    """
    r = residual(y, X, Z, beta, b)
    Z = np.asarray(Z, dtype=float)
    return Z.T @ r / positive_scalar(sigma2, "sigma2") - psi_inverse(psi) @ as_vector(b, "b")


def conditional_mode_b(
    y: ArrayLike, X: ArrayLike, Z: ArrayLike, beta: ArrayLike, psi: ArrayLike, sigma2: float
) -> np.ndarray:
    r"""The maximizer :math:`\hat b` of :math:`\log f(y, b)` for fixed :math:`\beta` (``eq-bhat``).

    Setting the gradient to zero gives

    .. math::

        \hat b = A^{-1} \frac{Z^\top (y - X\beta)}{\sigma^2}.

    This is a *prediction* of :math:`b` (the mean and mode of :math:`b \mid y`), not an estimate of
    a parameter. Chapter 4, *Integrating out b*.
    """
    A = conditional_precision_b(Z, psi, sigma2)
    r0 = residual(y, X, Z, beta, np.zeros(A.shape[0]))
    rhs = np.asarray(Z, dtype=float).T @ r0 / sigma2
    return linalg.cho_solve((cholesky_lower(A, "A"), True), rhs)


def laplace_log_marginal(
    y: ArrayLike, X: ArrayLike, Z: ArrayLike, beta: ArrayLike, psi: ArrayLike, sigma2: float
) -> float:
    r"""Log marginal density :math:`\log f(y)` by the second-order expansion (``eq-laplace``).

    .. math::

        \log f(y) = \log f(y, \hat b) + \frac{q}{2}\log(2\pi) - \sum_i \log L_{ii},
        \qquad LL^\top = A

    Exact for the linear mixed model. Chapter 4, *Integrating out b*; checked against the direct
    :math:`N(X\beta, V)` density and against numerical quadrature.
    """
    b_hat = conditional_mode_b(y, X, Z, beta, psi, sigma2)
    L = cholesky_lower(conditional_precision_b(Z, psi, sigma2), "A")
    q = b_hat.shape[0]
    log_joint = log_joint_density(y, b_hat, X, Z, beta, psi, sigma2)
    return float(log_joint + 0.5 * q * np.log(2 * np.pi) - np.sum(np.log(np.diag(L))))


def marginal_log_density(
    y: ArrayLike, X: ArrayLike, Z: ArrayLike, beta: ArrayLike, psi: ArrayLike, sigma2: float
) -> float:
    r"""Log marginal density straight from :math:`y \sim N(X\beta, V)` (``eq-marginal``).

    The :math:`n \times n` matrix :math:`V` is factored directly: fine for the book's small
    examples, and the reference the expansion is checked against. Chapter 4, *Integrating out b*.
    """
    X = as_matrix(X, "X")
    V = marginal_covariance(Z, psi, sigma2)
    return gaussian_log_density(y, X @ as_vector(beta, "beta"), V, name="V")


def _group_log_integral(y_j: np.ndarray, offset_j: np.ndarray, sigma2_b: float, sigma2: float) -> float:
    """log of the integral over one random intercept c of f(y_j | c) f(c), by adaptive quadrature."""

    def log_integrand(c: float) -> float:
        r = y_j - offset_j - c
        return -0.5 * (len(r) * np.log(2 * np.pi * sigma2) + r @ r / sigma2
                       + np.log(2 * np.pi * sigma2_b) + c * c / sigma2_b)

    precision = len(y_j) / sigma2 + 1 / sigma2_b
    mode = np.sum(y_j - offset_j) / sigma2 / precision
    peak, width = log_integrand(mode), 1 / np.sqrt(precision)
    # Integrate exp(log_integrand - peak) so that nothing underflows; add the peak back after.
    value, _ = integrate.quad(lambda c: np.exp(log_integrand(c) - peak), mode - 40 * width, mode + 40 * width,
                              points=[mode], limit=200)
    return float(peak + np.log(value))


def quadrature_log_marginal(
    y: ArrayLike, X: ArrayLike, Z: ArrayLike, beta: ArrayLike, sigma2_b: float, sigma2: float
) -> float:
    r"""Log marginal density of a random-intercept model by one 1-D quadrature per group.

    With one random intercept per group, the groups are independent, and

    .. math::

        \log f(y) = \sum_{j=1}^{J} \log \int f(y_j \mid c)\, f_{N(0, \sigma_b^2)}(c)\,dc,

    over the :math:`J` groups, where :math:`f_{N(0, \sigma_b^2)}` is the normal density of one
    random intercept; each integral done by ``scipy.integrate.quad``. A check on ``eq-laplace``
    that uses no algebra. Chapter 4, *Integrating out b*.
    """
    y = as_vector(y, "y")
    Z = as_matrix(Z, "Z", rows=y.shape[0])
    if not (np.all(np.isin(Z, (0.0, 1.0))) and np.all(Z.sum(axis=1) == 1)):
        raise ValueError("Z must be the indicator matrix of one grouping factor (one 1 in each row)")
    offset = as_matrix(X, "X", rows=y.shape[0]) @ as_vector(beta, "beta")
    sigma2_b, sigma2 = positive_scalar(sigma2_b, "sigma2_b"), positive_scalar(sigma2, "sigma2")
    in_group = [Z[:, j] == 1 for j in range(Z.shape[1])]
    return sum(_group_log_integral(y[rows_j], offset[rows_j], sigma2_b, sigma2) for rows_j in in_group)
