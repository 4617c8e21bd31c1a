r"""Henderson's mixed-model equations (chapter 5, *Henderson's mixed-model equations*).

Maximizing :math:`\log f(y, b)` jointly over :math:`\beta` and :math:`b` (Henderson 1950;
Henderson et al. 1959) gives the linear system (equation ``eq-mme``)

.. math::

    \begin{bmatrix} X^\top X / \sigma^2 & X^\top Z / \sigma^2 \\
                    Z^\top X / \sigma^2 & Z^\top Z / \sigma^2 + \psi^{-1} \end{bmatrix}
    \begin{bmatrix} \hat\beta \\ \hat b \end{bmatrix}
    = \begin{bmatrix} X^\top y / \sigma^2 \\ Z^\top y / \sigma^2 \end{bmatrix}.

Its :math:`\hat\beta` is the generalized least-squares estimator
:math:`(X^\top V^{-1} X)^{-1} X^\top V^{-1} y`, which the Woodbury identity shows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from lmm_teach._checks import as_matrix, as_vector, covariance_matrix, positive_scalar
from lmm_teach.joint import cholesky_lower
from lmm_teach.laplace import conditional_precision_b


def _rank_checked(X: np.ndarray) -> np.ndarray:
    """Return X, or raise a ValueError if its columns are linearly dependent."""
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} columns but rank {rank}: some fixed effects are not identifiable"
        )
    return X


def mme_matrix(X: ArrayLike, Z: ArrayLike, psi: ArrayLike, sigma2: float) -> np.ndarray:
    r"""Coefficient matrix :math:`C` of Henderson's equations (left side of ``eq-mme``).

    .. math::

        C = \begin{bmatrix} X^\top X & X^\top Z \\ Z^\top X & Z^\top Z \end{bmatrix} / \sigma^2
          + \begin{bmatrix} 0 & 0 \\ 0 & \psi^{-1} \end{bmatrix}

    Chapter 5, *Henderson's mixed-model equations*.
    """
    X = _rank_checked(as_matrix(X, "X"))
    Z = as_matrix(Z, "Z", rows=X.shape[0], rows_of="X")
    sigma2 = positive_scalar(sigma2, "sigma2")
    A = conditional_precision_b(Z, psi, sigma2)
    return np.block([[X.T @ X / sigma2, X.T @ Z / sigma2], [Z.T @ X / sigma2, A]])


def mme_rhs(y: ArrayLike, X: ArrayLike, Z: ArrayLike, sigma2: float) -> np.ndarray:
    r"""Right-hand side of Henderson's equations, :math:`[X^\top y;\ Z^\top y] / \sigma^2` (``eq-mme``).

    Chapter 5, *Henderson's mixed-model equations*.
    """
    y = as_vector(y, "y")
    X, Z = as_matrix(X, "X", rows=y.shape[0]), as_matrix(Z, "Z", rows=y.shape[0])
    return np.concatenate([X.T @ y, Z.T @ y]) / positive_scalar(sigma2, "sigma2")


def solve_mme(
    y: ArrayLike, X: ArrayLike, Z: ArrayLike, psi: ArrayLike, sigma2: float
) -> tuple[np.ndarray, np.ndarray]:
    r"""Solve Henderson's equations ``eq-mme`` for :math:`(\hat\beta, \hat b)` by Cholesky.

    Chapter 5, *Henderson's mixed-model equations*; :math:`\hat\beta` is checked against
    :func:`gls_beta` and :math:`\hat b` against :func:`lmm_teach.laplace.conditional_mode_b`.
    """
    C = mme_matrix(X, Z, psi, sigma2)
    solution = linalg.cho_solve((cholesky_lower(C, "Henderson's matrix C"), True), mme_rhs(y, X, Z, sigma2))
    p = np.shape(X)[1]
    return solution[:p], solution[p:]


def cov_beta_mme(X: ArrayLike, Z: ArrayLike, psi: ArrayLike, sigma2: float) -> np.ndarray:
    r"""Covariance of :math:`\hat\beta` as the :math:`\beta` block of :math:`C^{-1}` (``eq-cov-mme``).

    The block-inverse formula makes :math:`[C^{-1}]_{\beta\beta} = (X^\top V^{-1} X)^{-1}`, the
    covariance of the GLS estimator (chapter 7). Chapter 5, *Henderson's mixed-model equations*.
    """
    C = mme_matrix(X, Z, psi, sigma2)
    p = np.shape(X)[1]
    return linalg.cho_solve((cholesky_lower(C, "Henderson's matrix C"), True), np.eye(C.shape[0]))[:p, :p]


def woodbury_V_inverse(Z: ArrayLike, psi: ArrayLike, sigma2: float) -> np.ndarray:
    r""":math:`V^{-1}` by the Woodbury identity (equation ``eq-woodbury``), without inverting :math:`V`.

    .. math::

        (\sigma^2 I_n + Z\psi Z^\top)^{-1}
        = \frac{I_n}{\sigma^2} - \frac{Z A^{-1} Z^\top}{\sigma^4},
        \qquad A = \frac{Z^\top Z}{\sigma^2} + \psi^{-1}

    Only the :math:`q \times q` matrix :math:`A` is factored. Chapter 5.
    """
    Z = as_matrix(Z, "Z")
    sigma2 = positive_scalar(sigma2, "sigma2")
    A = conditional_precision_b(Z, psi, sigma2)
    A_inv_Zt = linalg.cho_solve((cholesky_lower(A, "A"), True), Z.T)
    return np.eye(Z.shape[0]) / sigma2 - Z @ A_inv_Zt / sigma2**2


def gls_beta(y: ArrayLike, X: ArrayLike, V: ArrayLike) -> np.ndarray:
    r"""Generalized least squares, :math:`\hat\beta = (X^\top V^{-1} X)^{-1} X^\top V^{-1} y` (``eq-gls``).

    Computed by whitening with the Cholesky factor :math:`V = LL^\top`. Chapter 5.
    """
    y = as_vector(y, "y")
    X = _rank_checked(as_matrix(X, "X", rows=y.shape[0]))
    L = cholesky_lower(covariance_matrix(V, "V", y.shape[0]), "V")
    X_white = linalg.solve_triangular(L, X, lower=True)
    y_white = linalg.solve_triangular(L, y, lower=True)
    return linalg.cho_solve((cholesky_lower(X_white.T @ X_white, "X'V^-1 X"), True), X_white.T @ y_white)
