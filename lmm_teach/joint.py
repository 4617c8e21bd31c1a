r"""The joint density of the response and the random effects (chapter 3, *The joint density*).

Because :math:`y \mid b \sim N(X\beta + Zb, \sigma^2 I_n)` and :math:`b \sim N(0, \psi)`,

.. math::

    \log f(y, b) = \log f(y \mid b) + \log f(b)
    = -\frac{n}{2}\log(2\pi\sigma^2) - \frac{\lVert y - X\beta - Zb\rVert^2}{2\sigma^2}
      - \frac{q}{2}\log(2\pi) - \frac12\log|\psi| - \frac12 b^\top\psi^{-1} b,

equation ``eq-joint``. Every log-determinant and quadratic form goes through a Cholesky factor,
never through ``det`` or ``inv``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from lmm_teach._checks import as_matrix, as_vector, check_length, covariance_matrix, positive_scalar


def cholesky_lower(A: ArrayLike, name: str) -> np.ndarray:
    r"""Lower Cholesky factor :math:`L` with :math:`LL^\top = A`, or a ValueError naming ``A``.

    Chapter 3, *The joint density*.
    """
    try:
        return linalg.cholesky(np.asarray(A, dtype=float), lower=True)
    except linalg.LinAlgError as error:
        raise ValueError(f"{name} is not positive definite ({error})") from None


def gaussian_log_density(x: ArrayLike, mean: ArrayLike, cov: ArrayLike, name: str = "cov") -> float:
    r"""Log-density of :math:`N(\mu, \Sigma)` at :math:`x`, through :math:`\Sigma = LL^\top`.

    .. math::

        \log \phi(x; \mu, \Sigma) = -\frac{k}{2}\log(2\pi) - \sum_i \log L_{ii}
            - \frac12 \lVert L^{-1}(x - \mu)\rVert^2

    ``name`` is what an error message calls ``cov`` (``"psi"``, ``"V"``). Chapter 3, *The joint
    density*; checked against ``scipy.stats.multivariate_normal``.
    """
    x = as_vector(x, "x")
    L = cholesky_lower(covariance_matrix(cov, name, x.shape[0]), name)
    whitened = linalg.solve_triangular(L, x - np.asarray(mean, dtype=float), lower=True)
    log_det = 2.0 * np.sum(np.log(np.diag(L)))
    return float(-0.5 * (x.shape[0] * np.log(2 * np.pi) + log_det + whitened @ whitened))


def residual(y: ArrayLike, X: ArrayLike, Z: ArrayLike, beta: ArrayLike, b: ArrayLike) -> np.ndarray:
    r"""Conditional residual :math:`y - X\beta - Zb`. Chapter 3, *The joint density*."""
    y = as_vector(y, "y")
    X, Z = as_matrix(X, "X", rows=y.shape[0]), as_matrix(Z, "Z", rows=y.shape[0])
    beta, b = as_vector(beta, "beta"), as_vector(b, "b")
    check_length(beta, X.shape[1], "beta", "X")
    check_length(b, Z.shape[1], "b", "Z")
    return y - X @ beta - Z @ b


def log_density_y_given_b(
    y: ArrayLike, X: ArrayLike, Z: ArrayLike, beta: ArrayLike, b: ArrayLike, sigma2: float
) -> float:
    r"""Conditional log-density :math:`\log f(y \mid b)` (first half of ``eq-joint``).

    .. math::

        \log f(y \mid b) = -\frac{n}{2}\log(2\pi\sigma^2) - \frac{\lVert y - X\beta - Zb\rVert^2}{2\sigma^2}

    Chapter 3, *The joint density*.
    """
    r = residual(y, X, Z, beta, b)
    sigma2 = positive_scalar(sigma2, "sigma2")
    return float(-0.5 * (r.shape[0] * np.log(2 * np.pi * sigma2) + r @ r / sigma2))


def log_density_b(b: ArrayLike, psi: ArrayLike) -> float:
    r"""Log-density of the random effects, :math:`\log f(b)` with :math:`b \sim N(0, \psi)`.

    Chapter 3, *The joint density*.
    """
    b = as_vector(b, "b")
    return gaussian_log_density(b, np.zeros_like(b), psi, name="psi")


def log_joint_density(
    y: ArrayLike,
    b: ArrayLike,
    X: ArrayLike,
    Z: ArrayLike,
    beta: ArrayLike,
    psi: ArrayLike,
    sigma2: float,
) -> float:
    r"""Joint log-density :math:`\log f(y, b) = \log f(y \mid b) + \log f(b)` (equation ``eq-joint``).

    Chapter 3, *The joint density*; checked against ``scipy.stats.multivariate_normal``.
    """
    return log_density_y_given_b(y, X, Z, beta, b, sigma2) + log_density_b(b, psi)
