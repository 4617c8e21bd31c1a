r"""The source post's mistakes, kept runnable so that the errata chapter can show them (chapter 8).

Nothing else in the package calls these functions. Each reproduces one mistake of the post, in
this book's own code, next to the correct function it should be compared with.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from lmm_teach._checks import as_matrix, as_vector
from lmm_teach.ml import variances_from_phi


def post_p_value(beta: ArrayLike, se: ArrayLike) -> np.ndarray:
    r"""The post's p-value, :math:`2\,(1 - \Phi(\hat\beta / \operatorname{se}))`. **Wrong.**

    It is a two-sided p-value only when :math:`\hat\beta > 0`; for a negative estimate it exceeds
    1 (1.95 at :math:`z = -2`). The correct one is
    :func:`lmm_teach.inference.two_sided_p_value`. Chapter 8, *Notes on the source post*.
    """
    beta, se = as_vector(beta, "beta"), as_vector(se, "se")
    return 2.0 * (1.0 - stats.norm.cdf(beta, loc=0.0, scale=se))


def det_log_likelihood(phi: ArrayLike, X: ArrayLike, Z: ArrayLike, y: ArrayLike) -> float:
    r"""The profile log-likelihood written with ``inv`` and ``det``, as the post does. **Fragile.**

    Mathematically equal to :func:`lmm_teach.ml.profile_log_likelihood`, but
    :math:`|\sigma^2 I_n| = (\sigma^2)^n` overflows to ``inf`` once :math:`n\log_{10}\sigma^2 > 308`
    (sleepstudy: :math:`n = 180`, :math:`\sigma^2 \approx 960`), and the log-likelihood becomes
    ``-inf``. Chapter 8, *Notes on the source post*.
    """
    sigma2_b, sigma2 = variances_from_phi(phi)
    X, Z, y = as_matrix(X, "X"), as_matrix(Z, "Z"), as_vector(y, "y")
    n, q = Z.shape
    Lambda, psi = sigma2 * np.eye(n), sigma2_b * np.eye(q)
    A = Z.T @ np.linalg.inv(Lambda) @ Z + np.linalg.inv(psi)
    V_inv = np.linalg.inv(Lambda) - np.linalg.inv(Lambda) @ Z @ np.linalg.inv(A) @ Z.T @ np.linalg.inv(Lambda)
    beta = np.linalg.inv(X.T @ V_inv @ X) @ X.T @ V_inv @ y
    b = np.linalg.inv(A) @ Z.T @ np.linalg.inv(Lambda) @ (y - X @ beta)
    r = y - X @ beta - Z @ b
    with np.errstate(over="ignore", divide="ignore"):
        log_dets = np.log(np.linalg.det(Lambda)) + np.log(np.linalg.det(psi)) + np.log(np.linalg.det(A))
    quadratic = r @ np.linalg.inv(Lambda) @ r + b @ np.linalg.inv(psi) @ b
    return float(-0.5 * (quadratic + log_dets + n * np.log(2 * np.pi)))
