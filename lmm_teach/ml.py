r"""Maximum likelihood for a random-intercept model (chapter 6, *Maximum likelihood*).

The optimizer works on the log-variances :math:`\phi = (\log\sigma_b^2, \log\sigma^2)`, the
parametrization of the source post (the post calls them ``theta``; this book keeps :math:`\theta`
for lme4's parameters of Part II): any real :math:`\phi` gives positive variances, so an
unconstrained optimizer can be used (but a variance of exactly 0 is out of reach; see the
errata). For fixed :math:`\phi` the best :math:`\beta` solves Henderson's equations, so the
optimizer searches over :math:`\phi` alone, on the profile log-likelihood (``eq-profile``)

.. math::

    \ell_p(\phi) = \max_\beta \ell(\beta, \sigma_b^2, \sigma^2)
    = \log f(y \mid \hat\beta(\phi), e^{\phi_1}, e^{\phi_2}).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from lmm_teach._checks import as_matrix, as_vector, positive_scalar, read_only_copies
from lmm_teach.henderson import cov_beta_mme, solve_mme
from lmm_teach.laplace import laplace_log_marginal
from lmm_teach.model import random_intercept_psi


@dataclass(frozen=True)
class MLFit:
    """A maximum-likelihood fit of ``y = X beta + Z b + e`` with ``psi = sigma2_b I``.

    Attributes
    ----------
    phi : (2,) optimum of the profile log-likelihood, ``(log sigma2_b, log sigma2)``.
    sigma2_b, sigma2 : the random-intercept and residual variances.
    beta : (p,) fixed effects; ``cov_beta`` their covariance; ``se_beta`` its diagonal's root.
    b : (q,) predicted random effects (conditional modes) at the optimum.
    loglik : the maximized log-likelihood.
    converged, n_iterations, message : what the optimizer reported.
    """

    phi: np.ndarray
    sigma2_b: float
    sigma2: float
    beta: np.ndarray
    b: np.ndarray
    cov_beta: np.ndarray
    se_beta: np.ndarray
    loglik: float
    converged: bool
    n_iterations: int
    message: str

    def __post_init__(self) -> None:
        read_only_copies(self)


def variances_from_phi(phi: ArrayLike) -> tuple[float, float]:
    r""":math:`(\sigma_b^2, \sigma^2) = (e^{\phi_1}, e^{\phi_2})`. Chapter 6, *Maximum likelihood*."""
    phi = as_vector(phi, "phi")
    if phi.shape != (2,):
        raise ValueError(f"phi must hold 2 numbers (log sigma2_b, log sigma2), not {phi.shape[0]}")
    with np.errstate(over="ignore"):
        sigma2_b, sigma2 = np.exp(phi)
    return positive_scalar(sigma2_b, "exp(phi[0])"), positive_scalar(sigma2, "exp(phi[1])")


def profile_log_likelihood(phi: ArrayLike, X: ArrayLike, Z: ArrayLike, y: ArrayLike) -> float:
    r"""The profile log-likelihood :math:`\ell_p(\phi)` of equation ``eq-profile``.

    :math:`\phi = (\log\sigma_b^2, \log\sigma^2)`. :math:`\hat\beta(\phi)` comes from
    Henderson's equations (chapter 5) and :math:`\log f(y \mid \hat\beta, \sigma_b^2, \sigma^2)`
    from the exact second-order expansion (chapter 4). Chapter 6, *Maximum likelihood*.
    """
    sigma2_b, sigma2 = variances_from_phi(phi)
    psi = random_intercept_psi(sigma2_b, np.shape(Z)[1])
    beta_hat, _ = solve_mme(y, X, Z, psi, sigma2)
    return laplace_log_marginal(y, X, Z, beta_hat, psi, sigma2)


def _negative_objective(phi: np.ndarray, X: np.ndarray, Z: np.ndarray, y: np.ndarray) -> float:
    """-l_p(phi) for the minimizer; +inf where a variance overflows (the optimizer backs off)."""
    try:
        return -profile_log_likelihood(phi, X, Z, y)
    except ValueError:
        return np.inf


def default_phi0(y: ArrayLike) -> np.ndarray:
    r"""Starting point: half of the sample variance of :math:`y` for each variance. Chapter 6."""
    half = positive_scalar(np.var(as_vector(y, "y")) / 2, "half the variance of y")
    return np.log([half, half])


def fit_ml(X: ArrayLike, Z: ArrayLike, y: ArrayLike, phi0: ArrayLike | None = None) -> MLFit:
    r"""Maximize :math:`\ell_p(\phi)` with BFGS and return the fit at the optimum.

    Chapter 6, *Maximum likelihood*. Validated against statsmodels ``MixedLM.fit(reml=False)`` and
    lme4 1.1-31 ``lmer(travel ~ 1 + (1 | Rail), REML = FALSE)`` on the Rail data.
    """
    y = as_vector(y, "y")
    X, Z = as_matrix(X, "X", rows=y.shape[0]), as_matrix(Z, "Z", rows=y.shape[0])
    start = default_phi0(y) if phi0 is None else as_vector(phi0, "phi0")
    result = optimize.minimize(_negative_objective, start, args=(X, Z, y), method="BFGS")
    sigma2_b, sigma2 = variances_from_phi(result.x)
    psi = random_intercept_psi(sigma2_b, Z.shape[1])
    beta, b = solve_mme(y, X, Z, psi, sigma2)
    cov_beta = cov_beta_mme(X, Z, psi, sigma2)
    return MLFit(result.x, sigma2_b, sigma2, beta, b, cov_beta, np.sqrt(np.diag(cov_beta)),
                 -float(result.fun), bool(result.success), int(result.nit), str(result.message))
