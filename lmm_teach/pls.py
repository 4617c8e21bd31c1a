r"""Penalized least squares and the profiled deviance (chapter 10, *Penalized least squares*).

lme4's form of the model (Bates et al. 2015) writes the random effects through spherical
:math:`u \sim N(0, \sigma^2 I_q)` and the *relative covariance factor* :math:`\Lambda_\theta`:

.. math::

    b = \Lambda_\theta u, \qquad \psi = \sigma^2 \Lambda_\theta \Lambda_\theta^\top .

For given :math:`\theta`, the conditional modes and :math:`\hat\beta` minimize the penalized
residual sum of squares (equation ``eq-pls``)

.. math::

    r^2(\theta) = \min_{u, \beta}\ \lVert y - X\beta - Z\Lambda_\theta u \rVert^2 + \lVert u \rVert^2,

which a blocked Cholesky factorization solves (equation ``eq-pls-blocks``):

.. math::

    L_\theta L_\theta^\top = \Lambda_\theta^\top Z^\top Z \Lambda_\theta + I_q, \quad
    L_\theta R_{ZX} = \Lambda_\theta^\top Z^\top X, \quad
    R_X^\top R_X = X^\top X - R_{ZX}^\top R_{ZX}.

:math:`\beta` and :math:`\sigma^2` are then profiled out of the deviance (``eq-deviance-ml``,
``eq-deviance-reml``), which leaves a function of :math:`\theta` alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg, sparse

from lmm_teach.design import Design, TermDesign


def theta_size(k: int) -> int:
    """Parameters of a :math:`k \\times k` lower-triangular factor: :math:`k(k+1)/2`. Chapter 10."""
    return k * (k + 1) // 2


def term_factor(theta_i: ArrayLike, k: int) -> np.ndarray:
    r"""A term's lower-triangular :math:`T_i` (:math:`k \times k`) from its slice of :math:`\theta`.

    :math:`\theta_i` fills the lower triangle column by column, as in lme4: for :math:`k = 2`,
    :math:`T_i = \begin{bmatrix}\theta_1 & 0\\ \theta_2 & \theta_3\end{bmatrix}`. Chapter 10.
    """
    theta_i = np.asarray(theta_i, dtype=float)
    if theta_i.shape != (theta_size(k),):
        raise ValueError(f"a term with {k} columns needs {theta_size(k)} theta values, not {theta_i.shape}")
    T = np.zeros((k, k))
    T[_lower_triangle(k)] = theta_i              # column-major lower triangle
    return T


@functools.lru_cache(maxsize=None)
def _lower_triangle(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the lower triangle of a :math:`k \\times k` matrix, column by
    column (computed once per k: the optimizer asks thousands of times)."""
    return np.triu_indices(k)[::-1]


def theta_slices(terms: tuple[TermDesign, ...]) -> list[slice]:
    """Which entries of :math:`\\theta` belong to which term. Chapter 10."""
    ends = np.cumsum([0] + [theta_size(term.k) for term in terms])
    return [slice(start, end) for start, end in zip(ends[:-1], ends[1:])]


def theta_start(terms: tuple[TermDesign, ...]) -> np.ndarray:
    """lme4's starting point: :math:`T_i = I` for every term. Chapter 10."""
    return np.concatenate([np.eye(t.k)[np.triu_indices(t.k)[::-1]] for t in terms])


def theta_lower(terms: tuple[TermDesign, ...]) -> np.ndarray:
    """Lower bounds: 0 on the diagonal of each :math:`T_i` (a standard deviation), none off it.

    Chapter 10; chapter 13 shows why the bound, and not a log scale, lets a variance reach 0.
    """
    return np.concatenate([np.where(np.eye(t.k)[np.triu_indices(t.k)[::-1]] == 1, 0.0, -np.inf)
                           for t in terms])


def Lambda(theta: ArrayLike, terms: tuple[TermDesign, ...]) -> sparse.csc_matrix:
    r""":math:`\Lambda_\theta = \operatorname{diag}(I_{J_1} \otimes T_1, \dots, I_{J_m} \otimes T_m)`.

    Block-diagonal: one copy of the term's :math:`T_i` per level. Chapter 10.
    """
    theta = np.asarray(theta, dtype=float)
    if theta.shape != (sum(theta_size(t.k) for t in terms),):
        raise ValueError(f"theta has {theta.size} values; these terms need "
                         f"{sum(theta_size(t.k) for t in terms)}")
    blocks = [sparse.kron(sparse.identity(len(t.levels)), term_factor(theta[s], t.k))
              for t, s in zip(terms, theta_slices(terms))]
    return sparse.block_diag(blocks, format="csc")


@dataclass(frozen=True)
class PLSSolution:
    """The solution of the penalized least-squares problem ``eq-pls`` at one :math:`\\theta`."""

    theta: np.ndarray
    L: np.ndarray       # lower Cholesky factor of Lambda' Z' Z Lambda + I  (q x q)
    R_ZX: np.ndarray    # L^-1 Lambda' Z' X  (q x p)
    R_X: np.ndarray     # upper factor, R_X' R_X = X'X - R_ZX' R_ZX  (p x p)
    beta: np.ndarray
    u: np.ndarray       # spherical conditional modes; b = Lambda u
    b: np.ndarray
    r2: float           # penalized residual sum of squares


def cholesky_L(ZLambda: sparse.spmatrix) -> np.ndarray:
    r""":math:`L_\theta`, lower triangular, with :math:`L_\theta L_\theta^\top = \Lambda_\theta^\top Z^\top Z
    \Lambda_\theta + I_q` (first block of ``eq-pls-blocks``). Always positive definite. Chapter 10.

    lme4 keeps this factor sparse (CHOLMOD); here it is dense, which is clearer and fast enough
    for the book's data.
    """
    A = (ZLambda.T @ ZLambda).toarray() + np.eye(ZLambda.shape[1])
    return linalg.cholesky(A, lower=True)


def weighted(design: Design) -> tuple[np.ndarray, np.ndarray, sparse.csc_matrix]:
    r"""The rows of :math:`y`, :math:`X` and :math:`Z` times :math:`\sqrt{w_i}` (prior weights).

    With :math:`\operatorname{Var}(\varepsilon_i) = \sigma^2 / w_i`, multiplying row
    :math:`i` by :math:`\sqrt{w_i}` gives residuals of equal variance :math:`\sigma^2`:

    .. math::

        W^{1/2} y = W^{1/2} X \beta + W^{1/2} Z \Lambda_\theta u + W^{1/2}\varepsilon,
        \qquad W = \operatorname{diag}(w).

    Every weight is 1 unless ``weights=`` was given; the PLS problem is then unchanged.
    Chapter 14 (lme4's ``sqrtXWt``).
    """
    sqrt_w = np.sqrt(design.weights)
    return sqrt_w * design.y, sqrt_w[:, None] * design.X, sparse.diags(sqrt_w) @ design.Z


def solve_pls(theta: ArrayLike, design: Design) -> PLSSolution:
    r"""Solve ``eq-pls`` for :math:`(\hat u, \hat\beta)` by the blocked Cholesky factors ``eq-pls-blocks``.

    .. math::

        L c_u = \Lambda^\top Z^\top y, \quad
        R_X^\top c_\beta = X^\top y - R_{ZX}^\top c_u, \quad
        R_X \hat\beta = c_\beta, \quad
        L^\top \hat u = c_u - R_{ZX}\hat\beta .

    With prior weights, :math:`y, X, Z` are the weighted rows of :func:`weighted`.
    Chapter 10; the same steps as lme4pureR's ``pls.R``.
    """
    theta = np.asarray(theta, dtype=float)
    y, X, Z = weighted(design)
    ZLambda = Z @ Lambda(theta, design.terms)
    L = cholesky_L(ZLambda)
    R_ZX = linalg.solve_triangular(L, ZLambda.T @ X, lower=True)
    R_X = linalg.cholesky(X.T @ X - R_ZX.T @ R_ZX, lower=False)
    c_u = linalg.solve_triangular(L, ZLambda.T @ y, lower=True)
    c_beta = linalg.solve_triangular(R_X, X.T @ y - R_ZX.T @ c_u, trans="T")
    beta = linalg.solve_triangular(R_X, c_beta)
    u = linalg.solve_triangular(L, c_u - R_ZX @ beta, trans="T", lower=True)
    residual = y - X @ beta - ZLambda @ u
    r2 = float(residual @ residual + u @ u)
    return PLSSolution(theta, L, R_ZX, R_X, beta, u, Lambda(theta, design.terms) @ u, r2)


def log_det_L2(L: np.ndarray) -> float:
    r""":math:`\log|L_\theta|^2 = 2\sum_i \log L_{ii}`. Chapter 10."""
    return float(2 * np.sum(np.log(np.diag(L))))


def sigma2_hat(r2: float, n: int, p: int, reml: bool) -> float:
    r"""Profiled residual variance: :math:`r^2/n` (ML) or :math:`r^2/(n-p)` (REML). Chapter 10."""
    return r2 / (n - p if reml else n)


def deviance_from_pls(solution: PLSSolution, n: int, reml: bool, sum_log_w: float = 0.0) -> float:
    r"""The profiled deviance ``eq-deviance-ml`` or REML criterion ``eq-deviance-reml``.

    .. math::

        d(\theta) = \log|L_\theta|^2 + n\left[1 + \log\frac{2\pi r^2(\theta)}{n}\right]
            - \sum_i \log w_i,
        \qquad
        d_R(\theta) = \log|L_\theta|^2 + \log|R_X|^2
            + (n - p)\left[1 + \log\frac{2\pi r^2(\theta)}{n - p}\right] - \sum_i \log w_i

    The last term comes from prior weights :math:`w_i` (``sum_log_w``; 0 when every weight is
    1): the density of :math:`y_i` with variance :math:`\sigma^2/w_i` is that of the weighted
    row times the Jacobian :math:`\sqrt{w_i}`, as in lme4's ``ldW``. Chapter 10 (the profiled
    deviance and REML criterion of Bates et al. 2015, section 3); weights in chapter 14.
    """
    p = solution.beta.shape[0]
    log_det_RX2 = 2 * float(np.sum(np.log(np.abs(np.diag(solution.R_X)))))
    return deviance_from_parts(log_det_L2(solution.L), log_det_RX2, solution.r2, n, p, reml,
                               sum_log_w)


def deviance_from_parts(log_det_L2: float, log_det_RX2: float, r2: float, n: int, p: int,
                        reml: bool, sum_log_w: float = 0.0) -> float:
    r"""The formula of :func:`deviance_from_pls` from its parts: :math:`\log|L_\theta|^2`,
    :math:`\log|R_X|^2` (used with REML only), :math:`r^2(\theta)`, :math:`n`, :math:`p` and
    :math:`\sum_i \log w_i`. Both engines end here: the readable one (chapter 10) and the fast
    one (chapter 19), which finds the parts without the :math:`q \times q` matrix.
    """
    degrees = n - p if reml else n
    deviance = log_det_L2 + degrees * (1 + np.log(2 * np.pi * r2 / degrees)) - sum_log_w
    return float(deviance + (log_det_RX2 if reml else 0.0))


def pls_normal_equations(theta: ArrayLike, design: Design) -> tuple[np.ndarray, np.ndarray]:
    r"""The normal equations of ``eq-pls``, unknowns ordered :math:`(u, \beta)`, as dense arrays.

    .. math::

        \begin{bmatrix} \Lambda_\theta^\top Z^\top Z \Lambda_\theta + I_q & \Lambda_\theta^\top Z^\top X \\
                        X^\top Z \Lambda_\theta & X^\top X \end{bmatrix}
        \begin{bmatrix} u \\ \beta \end{bmatrix}
        = \begin{bmatrix} \Lambda_\theta^\top Z^\top y \\ X^\top y \end{bmatrix}

    Henderson's equations ``eq-mme`` in the coordinates :math:`b = \Lambda_\theta u`: times
    :math:`\sigma^2`, the :math:`b` rows multiplied by :math:`\Lambda_\theta^\top`, :math:`u` first
    (``eq-ch10-mme-u``). Returns the matrix and the right-hand side; for checks and teaching only:
    :func:`solve_pls` never forms the matrix. Chapter 10, *Penalized least squares*.
    """
    y, X, Z = weighted(design)
    ZLambda = (Z @ Lambda(theta, design.terms)).toarray()
    matrix = np.block([[ZLambda.T @ ZLambda + np.eye(ZLambda.shape[1]), ZLambda.T @ X],
                       [X.T @ ZLambda, X.T @ X]])
    return matrix, np.concatenate([ZLambda.T @ y, X.T @ y])


def penalized_rss(u: ArrayLike, beta: ArrayLike, theta: ArrayLike, design: Design) -> float:
    r"""The objective of ``eq-pls`` at any :math:`(u, \beta)`, not only at its minimum.

    .. math::

        \lVert y - X\beta - Z\Lambda_\theta u \rVert^2 + \lVert u \rVert^2

    Its minimum over :math:`(u, \beta)` is :math:`r^2(\theta)`, the ``r2`` of :func:`solve_pls`.
    Chapter 10, *Penalized least squares*.
    """
    u, beta = np.asarray(u, dtype=float), np.asarray(beta, dtype=float)
    q, p = design.Z.shape[1], design.X.shape[1]
    if u.shape != (q,):
        raise ValueError(f"u must hold q = {q} values (one per column of Z), not shape {u.shape}")
    if beta.shape != (p,):
        raise ValueError(f"beta must hold p = {p} values (one per column of X), not shape {beta.shape}")
    y, X, Z = weighted(design)
    residual = y - X @ beta - Z @ (Lambda(theta, design.terms) @ u)
    return float(residual @ residual + u @ u)


def profiled_deviance(theta: ArrayLike, design: Design, reml: bool) -> float:
    """The function of :math:`\\theta` alone that the optimizer minimizes (lme4's ``devfun``).

    Chapter 10; checked against lme4 1.1-31's ``objective`` for every reference model, with
    and without prior weights (chapter 14).
    """
    sum_log_w = float(np.sum(np.log(design.weights)))
    return deviance_from_pls(solve_pls(theta, design), design.y.shape[0], reml, sum_log_w)
